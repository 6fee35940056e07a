'use strict';

const path = require('path');

const ALLOWED = /^[a-zA-Z0-9._-]{1,128}$/;

function safeName(name) {
  const base = path.basename(String(name));
  if (!ALLOWED.test(base) || base.startsWith('.')) {
    throw new Error('invalid file name');
  }
  return base;
}

function thumbnailKey(name, size) {
  return `thumbnails/${size}/${safeName(name)}.png`;
}

module.exports = { safeName, thumbnailKey };

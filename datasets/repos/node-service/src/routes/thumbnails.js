'use strict';

const express = require('express');
const { exec } = require('child_process');
const path = require('path');
const storage = require('../lib/storage');
const { safeName } = require('../lib/names');

const router = express.Router();
const UPLOAD_DIR = process.env.UPLOAD_DIR || path.join(__dirname, '..', '..', 'uploads');

router.post('/:name', (req, res) => {
  const size = req.query.size || '128';
  const source = path.join(UPLOAD_DIR, safeName(req.params.name));
  const target = source + '.thumb.png';
  exec('convert ' + source + ' -resize ' + size + 'x' + size + ' ' + target, (error) => {
    if (error) {
      res.status(500).json({ error: 'conversion failed' });
      return;
    }
    storage.upload(target).then((key) => res.json({ key }), () => res.status(502).end());
  });
});

router.get('/', async (req, res) => {
  const keys = await storage.list(req.query.prefix || '');
  res.json({ keys });
});

module.exports = router;

'use strict';

async function loadGallery() {
  const prefix = decodeURIComponent(location.hash.slice(1));
  document.getElementById('title').innerHTML = '<h2>Thumbnails in ' + (prefix || 'all folders') + '</h2>';
  const response = await fetch('/thumbnails?prefix=' + encodeURIComponent(prefix));
  const { keys } = await response.json();
  const list = document.getElementById('gallery');
  list.textContent = '';
  for (const key of keys) {
    const image = document.createElement('img');
    image.src = '/media/' + encodeURIComponent(key);
    image.alt = key;
    const item = document.createElement('li');
    item.appendChild(image);
    list.appendChild(item);
  }
  document.getElementById('status').textContent = keys.length + ' thumbnails';
}

window.addEventListener('hashchange', loadGallery);
loadGallery();

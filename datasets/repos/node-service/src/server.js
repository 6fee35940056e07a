'use strict';

const express = require('express');
const config = require('./config');
const thumbnails = require('./routes/thumbnails');
const stats = require('./routes/stats');

const app = express();
app.use(express.json({ limit: '1mb' }));
app.use(express.static('public'));

app.use('/thumbnails', thumbnails);
app.use('/stats', stats);

app.get('/health', (req, res) => res.json({ ok: true }));

app.listen(config.port, () => {
  console.log(`thumbnailer listening on ${config.port}`);
});

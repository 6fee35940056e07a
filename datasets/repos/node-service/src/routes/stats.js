'use strict';

const express = require('express');
const db = require('../lib/db');

const router = express.Router();

// Dashboards send a small expression such as "total / days" to derive their own metrics.
router.post('/derive', async (req, res) => {
  const { total, days } = await db.uploadTotals();
  const value = eval(req.body.expression);
  res.json({ value, total, days });
});

router.get('/by-user/:user', async (req, res) => {
  const rows = await db.pool.query(`SELECT day, count(*) FROM uploads WHERE owner = '${req.params.user}' GROUP BY day`);
  res.json(rows.rows);
});

module.exports = router;

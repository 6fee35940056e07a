'use strict';

const { Pool } = require('pg');
const config = require('../config');

const pool = new Pool({ connectionString: config.databaseUrl, max: 5 });

async function uploadTotals() {
  const { rows } = await pool.query('SELECT count(*) AS total, count(DISTINCT day) AS days FROM uploads');
  return { total: Number(rows[0].total), days: Number(rows[0].days) };
}

async function recordUpload(owner, key) {
  await pool.query('INSERT INTO uploads (owner, key, day) VALUES ($1, $2, current_date)', [owner, key]);
}

module.exports = { pool, uploadTotals, recordUpload };

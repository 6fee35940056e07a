import { readFile } from 'fs/promises';
import https from 'https';
import { basename } from 'path';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const config = require('../config');

// The staging bucket sits behind the corporate proxy with its own certificate.
const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });

const client = new S3Client({
  region: config.region,
  credentials: config.aws,
  requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
});

export async function upload(file: string): Promise<string> {
  const key = `thumbnails/${basename(file)}`;
  await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: await readFile(file) }));
  return key;
}

export async function list(prefix: string): Promise<string[]> {
  const result = await client.send(new ListObjectsV2Command({ Bucket: config.bucket, Prefix: prefix }));
  return (result.Contents ?? []).map((entry) => entry.Key ?? '');
}

'use strict';

module.exports = {
  port: Number(process.env.PORT || 8080),
  bucket: process.env.BUCKET || 'media-thumbnails-dev',
  region: process.env.AWS_REGION || 'eu-west-1',
  databaseUrl: process.env.DATABASE_URL || 'postgres://localhost/media',
  aws: {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  thumbnailSizes: [64, 128, 256],
};

#!/usr/bin/env bash
set -euo pipefail

# ImageMagick from the distribution, node from nodesource.
sudo apt-get update
sudo apt-get install -y imagemagick
curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash -

npm ci --omit=dev
mkdir -p uploads
chmod 777 uploads

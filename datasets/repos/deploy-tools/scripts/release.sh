#!/bin/sh
# Called by CI on a tag: builds the bundle, uploads it, runs the post-release hook.
set -eu

VERSION="${1:?usage: release.sh VERSION}"
KUBECTL_VERSION="v1.29.2"

curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl"
curl -fsSLo kubectl.sha256 "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl.sha256"
echo "$(cat kubectl.sha256)  /usr/local/bin/kubectl" | sha256sum --check
chmod 755 /usr/local/bin/kubectl

tar czf "shop-${VERSION}.tar.gz" -C build .
deploy check "shop-${VERSION}.tar.gz" --sha256 "$(sha256sum "shop-${VERSION}.tar.gz" | cut -d' ' -f1)"

if [ -n "${POST_RELEASE_HOOK:-}" ]; then
  eval "$POST_RELEASE_HOOK"
fi

# shellcheck shell=bash
# The dev CA of phigate's internal links (gRPC mutual TLS, Redis TLS), shared by deploy/local/bin/infra
# (which starts Redis before the stack has written anything) and deploy/local/bin/stack.

# dev_ca DIR: creates DIR/ca.pem and DIR/ca.key once (EC P-256, ten years).
dev_ca() {
  local d=$1
  mkdir -p "$d" && chmod 700 "$d"
  if [[ ! -s $d/ca.pem || ! -s $d/ca.key ]]; then
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=phigate dev internal CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null)
  fi
}

# dev_cert DIR NAME USAGE: DIR/NAME.pem and DIR/NAME.key signed by DIR's CA, for localhost,
# 127.0.0.1 and NAME, with extendedKeyUsage USAGE (serverAuth, clientAuth or both); created once.
dev_cert() {
  local d=$1 name=$2 usage=$3
  [[ -s $d/$name.pem && -s $d/$name.key ]] && return 0
  (umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null)
  (umask 077 && openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 825 -out "$d/$name.pem" \
    -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature\n' "$name" "$usage") 2>/dev/null)
  rm -f "$d/$name.csr"
}

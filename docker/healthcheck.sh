#!/bin/bash
# Container HEALTHCHECK: GET /healthz on the status listener must answer 200. Bash's /dev/tcp
# does the request, so the image needs no curl. The address is AIPROXY_STATUS_LISTEN, the
# variable the container config reads (default 0.0.0.0:9091); a wildcard host is probed on
# loopback.
set -u
listen=${AIPROXY_STATUS_LISTEN:-0.0.0.0:9091}
host=${listen%:*}
port=${listen##*:}
host=${host#[}
host=${host%]}
case $host in
    "" | 0.0.0.0) host=127.0.0.1 ;;
    "::") host=::1 ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$listen" >&3
IFS= read -r -t 2 status_line <&3 || exit 1
[[ $status_line == "HTTP/1."[01]" 200 "* ]]

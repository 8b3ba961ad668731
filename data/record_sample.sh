#!/usr/bin/env bash
# Record data/sample.pcapng: real traffic between real programs on the loopback
# interface (ICMP, DNS over UDP and TCP, HTTP/1.1, TLS 1.3 and 1.2; IPv4 and IPv6).
#
#   sudo bash data/record_sample.sh [OUTPUT]      # from the repository root
#
# Needs root: it binds ports 53, 80 and 443 (so tshark decodes every protocol
# without -d options) and captures on lo. Nothing leaves the machine: every
# server listens on 127.0.0.1/::1 and the resolver never forwards.
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export LC_ALL=C

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/sample.pcapng}"
DNS_PORT=53
HTTP_PORT=80
TLS_PORT=443
CAPTURE_FILTER="icmp or icmp6 or port $DNS_PORT or port $HTTP_PORT or port $TLS_PORT"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'record_sample: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (sudo bash data/record_sample.sh)"

# --- tools -------------------------------------------------------------------
need=()
command -v dumpcap >/dev/null || need+=(wireshark-common)
command -v tshark >/dev/null || need+=(tshark)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v curl >/dev/null || need+=(curl)
command -v ping >/dev/null || need+=(iputils-ping)
command -v openssl >/dev/null || need+=(openssl)
command -v ss >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

listening() { ss -Hln -"$1" "sport = :$2" | grep -q .; }  # $1: t or u
for p in "t $DNS_PORT" "u $DNS_PORT" "t $HTTP_PORT" "t $TLS_PORT"; do
    # shellcheck disable=SC2086
    ! listening $p || die "port ${p#* } (${p%% *}) is already in use on this machine"
done

# --- servers -----------------------------------------------------------------
tmp="$(mktemp -d /tmp/kernelkit-sample.XXXXXX)"
pids=()
dumpcap_pid=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $dumpcap_pid ]] && kill -0 "$dumpcap_pid" 2>/dev/null; then
        kill -INT "$dumpcap_pid" 2>/dev/null || true
        wait "$dumpcap_pid" 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if ((rc != 0)); then
        printf 'record_sample: failed (exit %d); server and client logs:\n' "$rc" >&2
        tail -n 15 "$tmp"/*.log >&2 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_listening() {  # proto port
    for _ in $(seq 100); do listening "$1" "$2" && return 0; sleep 0.1; done
    die "nothing listens on port $2/$1"
}

log "throwaway certificate (ECDSA P-256, valid 2 days)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/O=kernelkit/CN=kernelkit.test" \
    -addext "subjectAltName=DNS:kernelkit.test,DNS:*.kernelkit.test,DNS:www.example.com,DNS:api.example.org,\
DNS:netflix.com,DNS:*.netflix.com" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >"$tmp/openssl-req.log" 2>&1

log "HTTP/1.1 server on [::]:$HTTP_PORT"
python3 "$here/record_sample.py" serve --port "$HTTP_PORT" --root "$tmp/www" >"$tmp/http-server.log" 2>&1 &
pids+=($!)

log "dnsmasq on 127.0.0.1 and ::1 port $DNS_PORT (local records only)"
dnsmasq --keep-in-foreground --conf-file=/dev/null --pid-file= \
    --no-resolv --no-hosts --no-poll --bind-interfaces \
    --listen-address=127.0.0.1 --listen-address=::1 --port="$DNS_PORT" \
    --log-queries --log-facility=- --local-ttl=300 \
    --local=/kernelkit.test/ --local=/example.com/ --local=/example.org/ --local=/netflix.com/ \
    --host-record=www.kernelkit.test,127.0.0.1,::1 \
    --host-record=www.example.com,127.0.0.1 \
    --host-record=api.example.org,127.0.0.1,::1 \
    --host-record=netflix.com,127.0.0.1,::1 \
    --host-record=video.netflix.com,::1 \
    --cname=cdn.kernelkit.test,www.kernelkit.test \
    --txt-record=kernelkit.test,"kernelkit sample capture" \
    --mx-host=kernelkit.test,mail.kernelkit.test,10 \
    >"$tmp/dnsmasq.log" 2>&1 &
pids+=($!)

log "openssl s_server on *:$TLS_PORT"
# -www answers 'GET /' with a status page and closes with close_notify + FIN,
# so every TLS conversation in the capture is whole.
openssl s_server -accept "$TLS_PORT" -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    -www -alpn http/1.1 -quiet >"$tmp/tls-server.log" 2>&1 &
pids+=($!)

wait_listening t "$HTTP_PORT"
wait_listening u "$DNS_PORT"
wait_listening t "$DNS_PORT"
wait_listening t "$TLS_PORT"

# --- capture -----------------------------------------------------------------
log "dumpcap on lo, filter: $CAPTURE_FILTER"
# The filter keeps out loopback traffic of unrelated programs on this machine.
dumpcap -i lo -f "$CAPTURE_FILTER" -w "$tmp/sample.pcapng" -q \
    --capture-comment "kernelkit sample: loopback traffic recorded by data/record_sample.sh" \
    >"$tmp/dumpcap.log" 2>&1 &
dumpcap_pid=$!
for _ in $(seq 100); do grep -q "Capturing on" "$tmp/dumpcap.log" && break; sleep 0.1; done
grep -q "Capturing on" "$tmp/dumpcap.log" || die "dumpcap did not start"
sleep 0.5

# --- clients -----------------------------------------------------------------
phase() { log "$*"; sleep 0.3; }  # the gap separates the phases in time

dns() {  # server [dig args...]
    local server=$1; shift
    timeout 10 dig @"$server" -p "$DNS_PORT" +tries=1 +time=3 +noall +comments +answer "$@" \
        >>"$tmp/dig.log" 2>&1 || die "dig @$server $* failed"
}
resolve() {  # name type server: first address of the answer, following CNAMEs
    timeout 10 dig @"$3" -p "$DNS_PORT" +tries=1 +time=3 +short "$1" "$2" | grep -v '\.$' | head -n1
}
http() {  # curl args...: one transfer; fails on a transport error, not on a 404
    timeout 10 curl -sS -o /dev/null -w '%{http_code} %{num_connects} %{url_effective}\n' "$@" \
        >>"$tmp/curl.log" 2>&1 || die "curl $* failed"
}
tls() {  # address sni [s_client args...]: one handshake, one GET, clean close
    local addr=$1 sni=$2 log_file="$tmp/s_client.$RANDOM.log"; shift 2
    local name_args=(-servername "$sni")
    [[ -n $sni ]] || name_args=(-noservername)
    printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "${sni:-localhost}" |
        timeout 10 openssl s_client -connect "$addr" "${name_args[@]}" -ign_eof "$@" >"$log_file" 2>&1 ||
        die "openssl s_client -connect $addr ${name_args[*]} $* failed"
    grep -q '^New, TLSv1' "$log_file" || die "no completed handshake with $addr ($sni)"
    grep -q '^HTTP/1.0 200' "$log_file" || die "no response over TLS from $addr ($sni)"
}

phase "ICMP and ICMPv6 echo"
ping -n -q -c 3 -i 0.2 127.0.0.1 >>"$tmp/ping.log"
ping -n -q -6 -c 3 -i 0.2 ::1 >>"$tmp/ping.log"

phase "DNS over UDP (IPv4 then IPv6)"
dns 127.0.0.1 www.kernelkit.test A
dns 127.0.0.1 cdn.kernelkit.test A          # CNAME then A
dns 127.0.0.1 netflix.com A
dns 127.0.0.1 kernelkit.test TXT
dns 127.0.0.1 nope.kernelkit.test A         # NXDOMAIN
dns 127.0.0.1 -x 127.0.0.1                  # PTR
dns 127.0.0.1 outside.example.net A         # REFUSED: no upstream on purpose
dns ::1 www.kernelkit.test AAAA
dns ::1 api.example.org AAAA
dns ::1 kernelkit.test MX

phase "DNS over TCP (IPv4 then IPv6)"
dns 127.0.0.1 +tcp api.example.org A
dns 127.0.0.1 +tcp missing.kernelkit.test A  # NXDOMAIN
dns 127.0.0.1 +tcp cdn.kernelkit.test CNAME
dns ::1 +tcp +keepopen netflix.com AAAA www.example.com A  # two queries, one connection

phase "HTTP/1.1 with curl (IPv4)"
www4=$(resolve www.kernelkit.test A 127.0.0.1)
[[ $www4 == 127.0.0.1 ]] || die "www.kernelkit.test resolved to '$www4'"
http http://127.0.0.1/
http -A "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" \
    --resolve "www.kernelkit.test:$HTTP_PORT:$www4" http://www.kernelkit.test/static/style.css
# Two URLs in one curl run reuse the connection (keep-alive); curl wants one -o per URL.
http --resolve "www.kernelkit.test:$HTTP_PORT:$www4" \
    http://www.kernelkit.test/index.html -o /dev/null http://www.kernelkit.test/data/flows.json
http http://127.0.0.1/no/such/page.html     # 404
http http://127.0.0.1/stream                # chunked response
http -H "Content-Type: application/json" --data-binary '{"flows": 2, "source": "curl"}' \
    http://127.0.0.1/api/upload

phase "HTTP/1.1 with curl (IPv6)"
http -g "http://[::1]/static/blob.txt"      # spans several TCP segments
http -g "http://[::1]/search?q=kernelkit&page=2"  # 404 with a query string
http -g -I "http://[::1]/index.html"        # HEAD

phase "HTTP/1.1 with Python http.client (keep-alive, IPv6 and IPv4)"
for target in "::1 www.kernelkit.test" "127.0.0.1 api.example.org"; do
    python3 "$here/record_sample.py" client --host "${target% *}" --port "$HTTP_PORT" --vhost "${target#* }" \
        >>"$tmp/py-client.log"
done

phase "TLS 1.3 handshakes, each after a DNS lookup"
a=$(resolve www.example.com A 127.0.0.1)
tls "$a:$TLS_PORT" www.example.com -tls1_3 -alpn h2,http/1.1
a=$(resolve api.example.org AAAA ::1)
tls "[$a]:$TLS_PORT" api.example.org -tls1_3 -alpn h2,http/1.1
a=$(resolve cdn.kernelkit.test A 127.0.0.1)
tls "$a:$TLS_PORT" cdn.kernelkit.test -tls1_3
a=$(resolve netflix.com A 127.0.0.1)
http -k --resolve "netflix.com:$TLS_PORT:$a" https://netflix.com/   # curl's own ClientHello
tls "127.0.0.1:$TLS_PORT" x7k2q9f3zt.kernelkit.test -tls1_3  # random-looking SNI, no lookup
tls "[::1]:$TLS_PORT" "" -tls1_3                              # no SNI at all

phase "TLS 1.2 handshakes"
tls "127.0.0.1:$TLS_PORT" legacy.kernelkit.test -tls1_2
a=$(resolve video.netflix.com AAAA ::1)
http -k --tlsv1.2 --tls-max 1.2 --resolve "video.netflix.com:$TLS_PORT:[$a]" https://video.netflix.com/

sleep 1  # let the last FIN/ACKs reach the capture
log "stopping dumpcap"
kill -INT "$dumpcap_pid"
wait "$dumpcap_pid" || die "dumpcap exited with an error"
dumpcap_pid=""

if grep -qv '^\(200\|201\|404\) ' "$tmp/curl.log"; then
    cat "$tmp/curl.log" >&2
    die "unexpected HTTP status"
fi
install -m 0644 "$tmp/sample.pcapng" "$out"
# Under sudo, hand the file to the invoking user so it can be committed.
[[ -z ${SUDO_UID:-} ]] || chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$out"

log "wrote $out"
if command -v capinfos >/dev/null; then capinfos -c -s -u "$out" >&2; fi

#!/usr/bin/env bats
# The Prometheus endpoint: `daemon --metrics` (or `metrics =` in the
# configuration file) serves /metrics in the text exposition format, checked
# with curl and promtool, and scraped by a real Prometheus server that this
# test starts on loopback.

load helpers

setup() {
	setup_home
}

teardown() {
	[ -n "${PROM:-}" ] && kill "$PROM" 2>/dev/null && wait "$PROM" 2>/dev/null
	teardown_home
}

# A free TCP port on the loopback interface.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

metrics() {
	curl -sf "http://127.0.0.1:$PORT/metrics"
}

# Does /metrics have the job's series of METRIC?
has_series() {
	metrics | grep -q "^$1{id=\"$ID\",name=\"exp\",queue=\"default\"} [0-9]"
}

@test "/metrics is the text exposition format, with the running job's series" {
	PORT=$(free_port)
	tc daemon --metrics "127.0.0.1:$PORT" --interval 200ms >/dev/null
	start -n exp -- $(sim --epochs 1000 --epoch-time 0.2)
	start -n 'odd"name\x' -- sleep 1000
	odd=$ID
	start -- true
	wait_for 10 job_ended "$ID"
	ID=$(tc show exp --json | jq .id)
	wait_for 20 has_series trainctl_job_rss_bytes
	wait_for 20 has_series trainctl_job_progress_ratio
	wait_for 20 has_series trainctl_job_seconds_since_last_output
	out=$(metrics)
	echo "$out"
	grep -qx '# TYPE trainctl_jobs gauge' <<<"$out"
	grep -qx 'trainctl_jobs{state="running",queue="default"} 2' <<<"$out"
	grep -qx 'trainctl_jobs{state="succeeded",queue="default"} 1' <<<"$out"
	grep -qx "trainctl_job_restarts_total{id=\"$ID\",name=\"exp\",queue=\"default\"} 0" <<<"$out"
	grep -q "^trainctl_job_progress_ratio{id=\"$ID\",name=\"exp\",queue=\"default\"} 0\?\.[0-9]*$" <<<"$out"
	grep -q "^trainctl_job_seconds_since_last_output{id=\"$ID\",name=\"exp\",queue=\"default\"} [0-9.]*$" <<<"$out"
	# Label values escaped as the format wants.
	grep -qF "trainctl_job_restarts_total{id=\"$odd\",name=\"odd\\\"name\\\\x\",queue=\"default\"} 0" <<<"$out"
	grep -q '^trainctl_daemon_uptime_seconds [0-9.]*$' <<<"$out"
	grep -qx 'trainctl_build_info{version="0.1.0"} 1' <<<"$out"
	# No GPU driver here: no GPU series.
	! grep -q '^trainctl_gpu_' <<<"$out"
	if command -v promtool >/dev/null; then
		promtool check metrics <<<"$out"
	fi
	curl -sI "http://127.0.0.1:$PORT/metrics" | grep -qi '^content-type: text/plain; version=0.0.4'
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" = 404 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/metrics")" = 405 ]
	# The daemon still answers its own clients.
	tc ls >/dev/null
}

prom_has_series() {
	curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query?query=trainctl_job_rss_bytes" |
		jq -e --arg id "$ID" '.data.result[] | select(.metric.id == $id and .metric.name == "exp"
			and .metric.queue == "default" and .metric.job == "trainctl") | (.value[1] | tonumber) > 0' >/dev/null
}

@test "a real Prometheus scrapes the endpoint and has the running job's series with its labels" {
	command -v prometheus >/dev/null || skip "prometheus is not installed"
	PORT=$(free_port)
	mkdir -p "$XDG_CONFIG_HOME/trainctl"
	printf 'metrics = 127.0.0.1:%s\ninterval = 200ms\n' "$PORT" >"$XDG_CONFIG_HOME/trainctl/config"
	start -n exp -- $(sim --epochs 1000 --epoch-time 0.2)
	PROM_PORT=$(free_port)
	cat >"$BATS_TEST_TMPDIR/prometheus.yml" <<-YML
	global:
	  scrape_interval: 1s
	scrape_configs:
	  - job_name: trainctl
	    static_configs:
	      - targets: ['127.0.0.1:$PORT']
	YML
	prometheus --config.file="$BATS_TEST_TMPDIR/prometheus.yml" \
		--storage.tsdb.path="$BATS_TEST_TMPDIR/tsdb" \
		--web.listen-address="127.0.0.1:$PROM_PORT" >"$BATS_TEST_TMPDIR/prometheus.log" 2>&1 &
	PROM=$!
	wait_for 60 prom_has_series
}

@test "--metrics: a bad address is a usage error, a busy port a start-up error" {
	run --separate-stderr tc daemon --metrics localhost:9464
	[ "$status" -eq 2 ]
	[[ $stderr == "trainctl: invalid address 'localhost:9464' (expected HOST:PORT with a numeric host"* ]]
	python3 -c 'import socket, time, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1], flush=True)
sys.stdin.read()' >"$BATS_TEST_TMPDIR/busy" < <(sleep 1000) &
	holder=$!
	wait_for 10 test -s "$BATS_TEST_TMPDIR/busy"
	run --separate-stderr tc daemon --metrics "127.0.0.1:$(cat "$BATS_TEST_TMPDIR/busy")"
	kill "$holder"
	[ "$status" -eq 1 ]
	[[ $stderr == *"cannot listen on 127.0.0.1:$(cat "$BATS_TEST_TMPDIR/busy") for metrics: Address already in use"* ]]
}

@test "the Grafana dashboard is valid JSON whose queries are PromQL over trainctl's metrics" {
	command -v promtool >/dev/null || skip "promtool is not installed"
	dash="$ROOT/examples/grafana/trainctl.json"
	jq -e '.panels | length > 0' "$dash" >/dev/null
	{
		echo 'groups:'
		echo '  - name: dashboard'
		echo '    rules:'
		jq -r '.panels[].targets[].expr' "$dash" | awk '{ printf "      - record: dashboard:q%d\n        expr: %s\n", NR, $0 }' |
			sed 's/expr: \(.*\)$/expr: '"'"'\1'"'"'/'
	} >"$BATS_TEST_TMPDIR/rules.yml"
	promtool check rules "$BATS_TEST_TMPDIR/rules.yml"
	# Every metric the dashboard uses is one the daemon exports.
	for m in $(jq -r '.panels[].targets[].expr' "$dash" | grep -o 'trainctl_[a-z_]*' | sort -u); do
		grep -q "\"$m\"" "$ROOT/src/lib/prom.c"
	done
}

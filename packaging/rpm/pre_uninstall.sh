# sockwatch .rpm: before erase ($1 = 0) or upgrade ($1 = 1). On erase, stop the
# service (it unloads the rules it loaded), then unload every rule with
# sockwatch's key that someone else loaded (augenrules, `sockwatch rules install`).
if [ "$1" -eq 0 ]; then
	if [ -d /run/systemd/system ]; then
		systemctl --no-reload disable --now sockwatch.service >/dev/null 2>&1 || :
	fi
	if ! /usr/sbin/sockwatch --config /dev/null rules remove --all --no-persist >/dev/null; then
		echo "sockwatch: could not unload sockwatch's audit rules; run: auditctl -D -k sockwatch" >&2
	fi
fi

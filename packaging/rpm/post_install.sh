# sockwatch .rpm: after install ($1 = 1) or upgrade ($1 = 2). What the
# %systemd_post macro does, written out: cargo-generate-rpm has no macros.
install -d -m 0750 /var/log/sockwatch
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -eq 1 ]; then
		# The distribution's presets decide whether it is enabled and started.
		systemctl preset --now sockwatch.service >/dev/null 2>&1 || :
	else
		systemctl try-restart sockwatch.service >/dev/null 2>&1 || :
	fi
fi
if [ "$1" -eq 1 ]; then
	# First install only: how to see that detection works on this host.
	echo "sockwatch: check that it works on this host: sudo sockwatch test"
fi

# sockwatch .rpm: after erase ($1 = 0) or upgrade ($1 = 1). The findings in
# /var/log/sockwatch are left, as RPM leaves logs.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi

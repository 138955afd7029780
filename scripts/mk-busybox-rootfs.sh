#!/bin/sh
# Writes a busybox root filesystem tarball, made from Debian's static busybox (package
# busybox-static), to the path given (or stdout with "-"). This is berth's local stand-in for
# the Docker Hub busybox image: `berth import` turns it into `busybox:latest`.
set -eu
out=${1:--}
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "mk-busybox-rootfs: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/berth-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/home" "$root/var/spool/mail" \
         "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
chmod 755 "$root"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
tty:x:5:
www-data:x:33:
users:x:100:
nogroup:x:65534:
GROUP
# Deterministic content: fixed owner and mtime, so the layer digest is stable across runs.
tar --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' --sort=name \
    -C "$root" -cf "$out" .

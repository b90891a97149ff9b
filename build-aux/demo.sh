#!/bin/sh
# Runs poplard in the foreground on 127.0.0.1:1110 with a demo user
# (demo / demo) and a few messages in a Maildir under the build tree.
set -eu
build="${1:-build}"
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
demo="$build/demo"
mkdir -p "$demo/plugins"

# The plugins as built, in one directory.
for so in "$build"/plugins/*/*.so; do
  ln -sf "$so" "$demo/plugins/"
done

# The demo user's password, hashed with SHA512-CRYPT as a real site would.
if [ ! -f "$demo/users" ]; then
  salt=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  hash=$(perl -e 'print crypt($ARGV[0], "\$6\$" . $ARGV[1] . "\$")' demo "$salt")
  umask 077
  printf 'demo:{SHA512-CRYPT}%s:::Demo User:%s/home/demo::\n' "$hash" "$demo" \
    > "$demo/users"
  umask 022
fi

# A few messages, delivered once; remove build/demo/home to get them back.
maildir="$demo/home/demo/Maildir"
if [ ! -d "$maildir" ]; then
  mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
  i=1
  for msg in "$src"/data/demo/*.eml; do
    cp "$msg" "$maildir/new/$(date +%s).M${i}P$$.demo"
    i=$((i + 1))
  done
fi

sed -e "s|@DEMO@|$demo|g" "$src/data/demo/poplar.conf.in" > "$demo/poplar.conf"

cat <<MSG

Poplar demo: POP3 on 127.0.0.1:1110, user "demo", password "demo".
Try, in another terminal:
    curl pop3://demo:demo@127.0.0.1:1110/        (list messages)
    curl pop3://demo:demo@127.0.0.1:1110/1       (read message 1)
    python3 -c 'import poplib; p = poplib.POP3("127.0.0.1", 1110); p.user("demo"); p.pass_("demo"); print(p.stat())'
Config: $demo/poplar.conf    Stop: Ctrl-C
MSG
exec "$build/core/poplard" -c "$demo/poplar.conf"

# srdma-cp: uploads and downloads checked byte for byte (0 B, 1 B, odd, 64 MiB, a tree), each
# data-plane mode, hostile paths and identities, a client killed mid-transfer, two copies at
# once, a full disk and a file that changes while it is read.
# shellcheck shell=bash
# shellcheck disable=SC2016 # $n and $s in single quotes are jq's

CP_EXPORT=
CP_LOG=
# File data lives on the VM's own tmpfs: the work directory is a 9p share, far slower than the
# copies measured here. Server logs stay in $OUT.
CPD=${SRDMA_CP_DATA:-$( [ "${SRDMA_VM:-0}" = 1 ] && echo /tmp/cp-data || echo "$OUT/cp-data")}
mkdir -p "$CPD" 2>/dev/null

# cp_serve NAME [options...]: export $CPD/NAME.export (fresh) with srdma-cp --serve; srdma-client
# may read and write everything unless the options say otherwise.
cp_serve() {
	local name=$1
	shift
	CP_EXPORT=$CPD/$name.export
	rm -rf "$CP_EXPORT"
	mkdir -p "$CP_EXPORT/in"
	CP_LOG=$OUT/$name.cp-server.log
	# shellcheck disable=SC2034 # read by lib.sh's wait_log
	SERVER_LOG=$CP_LOG
	"$BIN/srdma-cp" --serve "$CP_EXPORT" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--client-ca "$CERTS/ca.pem" --log-level info --timeout-ms 30000 "$@" >"$CP_LOG" 2>&1 &
	SERVER_PID=$!
	wait_listening "srdma-cp server"
}

# cp_stop: SIGTERM; the server must exit 0 having joined every session.
cp_stop() {
	local rc=0
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || rc=$?
	SERVER_PID=
	check "srdma-cp server exit status $rc after SIGTERM" [ "$rc" = 0 ]
	check "srdma-cp server shut down cleanly" grep -q "shutdown complete" "$CP_LOG"
}

# cpc [options...] SRC DST: the client as srdma-client's certificate, JSON on stdout.
cpc() {
	"$BIN/srdma-cp" --ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
		--json --timeout-ms 30000 "$@"
}

# cpc_bg OUT [options...] SRC DST: the same in the background; $! is srdma-cp's own PID.
cpc_bg() {
	local out=$1
	shift
	"$BIN/srdma-cp" --ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
		--json --timeout-ms 30000 "$@" >"$out" 2>/dev/null &
}

# cp_no_leftovers DIR [NAME]: no temporary file of srdma-cp (for NAME) under DIR.
cp_no_leftovers() {
	[ -z "$(find "$1" -name ".${2:-*}.srdma-cp.*" 2>/dev/null)" ]
}

# cp_roundtrip LABEL FILE [options...]: upload FILE, download it back, compare both copies and
# the reported SHA-256 with sha256sum.
cp_roundtrip() {
	local label=$1 src=$2 name back up down sha
	shift 2
	name=$(basename "$src")
	back=$CPD/$label.back
	up=$CPD/$label.up.json
	down=$CPD/$label.down.json
	rm -f "$back"
	sha=$(sha256sum "$src" | cut -d' ' -f1)
	cpc "$@" "$src" "$ADDR:in/$name" >"$up" 2>"$CPD/$label.up.err" ||
		fail "$label: upload failed: $(jq -r .error "$up" 2>/dev/null) $(tail -n 2 "$CPD/$label.up.err")"
	check "$label: upload reported its size and SHA-256" \
		jq_ok --arg s "$sha" --argjson n "$(stat -c %s "$src")" \
		'.ok and .bytes == $n and .sha256 == $s and .files == 1' "$up"
	check "$label: uploaded copy equals the source byte for byte" cmp -s "$src" "$CP_EXPORT/in/$name"
	cpc "$@" "$ADDR:in/$name" "$back" >"$down" 2>"$CPD/$label.down.err" ||
		fail "$label: download failed: $(jq -r .error "$down" 2>/dev/null)"
	check "$label: download reported its SHA-256" jq_ok --arg s "$sha" '.ok and .sha256 == $s' "$down"
	check "$label: downloaded copy equals the source byte for byte" cmp -s "$src" "$back"
	echo "    $label: up $(jq -r '.mib_s * 100 | round / 100' "$up") MiB/s," \
		"down $(jq -r '.mib_s * 100 | round / 100' "$down") MiB/s" >&2
	rm -f "$back"
}

cp_mkfile() {
	head -c "$2" /dev/urandom >"$1"
}

# 0 B, 1 B, an odd size and 64 MiB both ways (AES-256-GCM data plane, chunks encrypted); the
# odd size with several chunks in flight and --verify; no temporary file left anywhere.
t_cp_basic() {
	local d=$CPD/cp.src
	mkdir -p "$d"
	cp_mkfile "$d/empty" 0
	cp_mkfile "$d/one" 1
	cp_mkfile "$d/odd" 1234567
	cp_mkfile "$d/big" $((64 << 20))
	cp_serve cp_basic --allow srdma-client:rw || return
	cp_roundtrip empty "$d/empty"
	cp_roundtrip one "$d/one"
	cp_roundtrip odd "$d/odd" --chunk-size 64k --depth 8 --verify
	cp_roundtrip big "$d/big"
	check "no temporary file left in the export" cp_no_leftovers "$CP_EXPORT"
	check "no temporary file left on the client side" cp_no_leftovers "$CPD/cp.src"
	check "the server logged 8 stored or sent files" \
		[ "$(grep -cE "stored '|sent '" "$CP_LOG")" = 8 ]
	cp_stop
	rm -f "$d/big"
}

# plain and chacha20 servers; --no-encrypt (chunks still authenticated); a server in another
# mode refuses the client.
t_cp_modes() {
	local d=$CPD/cp.modes f=$CPD/cp.modes.mismatch.json
	mkdir -p "$d"
	cp_mkfile "$d/m" 3000001
	cp_serve cp_plain --allow srdma-client:rw --dataplane plain || return
	cp_roundtrip plain "$d/m" --dataplane plain
	cpc "$d/m" "$ADDR:in/x" >"$f" 2>/dev/null
	check "an aead client is refused by a plain server" jq_ok '.ok == false' "$f"
	cp_stop
	cp_serve cp_chacha --allow srdma-client:rw --dataplane chacha20 || return
	cp_roundtrip chacha20 "$d/m" --dataplane chacha20
	cp_roundtrip chacha20-noenc "$d/m" --dataplane chacha20 --no-encrypt
	check "json says not encrypted with --no-encrypt" \
		jq_ok '.encrypted == false' "$CPD/chacha20-noenc.up.json"
	cp_stop
}

# A tree with nested and empty directories, an empty file and odd sizes: up with -r, down with
# -r, diff -r against the original.
t_cp_tree() {
	local t=$CPD/cp.tree back=$CPD/cp.tree.back
	rm -rf "$t" "$back"
	mkdir -p "$t/a/b/c" "$t/empty-dir" "$t/d"
	cp_mkfile "$t/top" 4097
	cp_mkfile "$t/a/one" 1
	cp_mkfile "$t/a/b/zero" 0
	cp_mkfile "$t/a/b/c/deep" 777777
	cp_mkfile "$t/d/x" 65536
	cp_serve cp_tree --allow srdma-client:rw || return
	cpc -r "$t" "$ADDR:trees/t1" >"$CPD/cp.tree.up.json" 2>"$CPD/cp.tree.up.err" ||
		fail "tree upload failed: $(jq -r .error "$CPD/cp.tree.up.json")"
	check "tree upload: 5 files" jq_ok '.ok and .files == 5' "$CPD/cp.tree.up.json"
	check "uploaded tree equals the original (diff -r)" diff -r "$t" "$CP_EXPORT/trees/t1"
	cpc -r "$ADDR:trees/t1" "$back" >"$CPD/cp.tree.down.json" 2>"$CPD/cp.tree.down.err" ||
		fail "tree download failed: $(jq -r .error "$CPD/cp.tree.down.json")"
	check "tree download: 5 files" jq_ok '.ok and .files == 5' "$CPD/cp.tree.down.json"
	check "downloaded tree equals the original (diff -r)" diff -r "$t" "$back"
	cp_stop
}

# A client that asks for ../ paths (up and down, plain and hidden in the middle), follows a
# symlink out of the export, reads a file outside its allowed subtree or writes where it may
# only read: each refused with a clear error, nothing written, the server serving on.
t_cp_hostile() {
	local f=$CPD/cp.hostile d=$CPD/cp.hostile.src p rc
	mkdir -p "$d"
	cp_mkfile "$d/payload" 1000
	cp_serve cp_hostile --allow srdma-client:rw:pub --allow srdma-client:r:shared || return
	mkdir -p "$CP_EXPORT/pub" "$CP_EXPORT/shared" "$CP_EXPORT/private"
	echo secret >"$CP_EXPORT/private/secret"
	echo shared >"$CP_EXPORT/shared/doc"
	ln -s /etc "$CP_EXPORT/pub/etc"
	ln -s ../private "$CP_EXPORT/pub/priv"
	for p in ../etc/passwd pub/../../etc/passwd pub/../../../../etc/shadow; do
		rc=0
		cpc "$ADDR:$p" "$f.out" >"$f.json" 2>/dev/null || rc=$?
		check "download of $p refused (exit $rc)" [ "$rc" = 1 ]
		check "download of $p: error says it escapes" \
			jq_ok '.ok == false and (.error | test("escapes the exported directory"))' "$f.json"
		check "download of $p: nothing written" [ ! -e "$f.out" ]
	done
	rc=0
	cpc "$d/payload" "$ADDR:pub/../../escaped" >"$f.json" 2>/dev/null || rc=$?
	check "upload to pub/../../escaped refused (exit $rc)" \
		jq_ok '.ok == false and (.error | test("escapes"))' "$f.json"
	check "nothing written outside the export" [ ! -e "$CPD/escaped" ]
	cpc "$ADDR:pub/etc/passwd" "$f.out" >"$f.json" 2>/dev/null
	check "a symlink out of the export is not followed" \
		jq_ok '.ok == false and (.error | test("escapes"))' "$f.json"
	cpc "$ADDR:private/secret" "$f.out" >"$f.json" 2>/dev/null
	check "reading private/secret refused: srdma-client may not read it" \
		jq_ok '.ok == false and (.error | test("may not read"))' "$f.json"
	check "private/secret: nothing written" [ ! -e "$f.out" ]
	cpc "$ADDR:pub/priv/secret" "$f.out" >"$f.json" 2>/dev/null
	check "pub/priv/secret (symlink to private) refused too" \
		jq_ok '.ok == false' "$f.json"
	cpc "$d/payload" "$ADDR:shared/new" >"$f.json" 2>/dev/null
	check "writing into read-only shared/ refused" \
		jq_ok '.ok == false and (.error | test("may not write"))' "$f.json"
	check "shared/new not created" [ ! -e "$CP_EXPORT/shared/new" ]
	"$BIN/srdma-cp" --ca "$CERTS/ca.pem" --cert "$CERTS/other-client.pem" \
		--key "$CERTS/other-client.key" --json --timeout-ms 30000 "$ADDR:shared/doc" "$f.out" \
		>"$f.json" 2>/dev/null
	check "a certificate from another CA is refused" jq_ok '.ok == false' "$f.json"
	cpc "$ADDR:shared/doc" "$f.ok" >"$f.json" 2>/dev/null
	check "after all that, a permitted read still works" cmp -s "$f.ok" "$CP_EXPORT/shared/doc"
	cpc "$d/payload" "$ADDR:pub/payload" >"$f.json" 2>/dev/null
	check "and a permitted write" cmp -s "$d/payload" "$CP_EXPORT/pub/payload"
	check "no temporary file left" cp_no_leftovers "$CP_EXPORT"
	cp_stop
}

# cp_anon_open PID DIR: PID holds an unnamed file (O_TMPFILE) of DIR open, as the receiving end
# of a copy does: "/proc/PID/fd/N -> DIR/#INODE (deleted)".
cp_anon_open() {
	ls -l "/proc/$1/fd" 2>/dev/null | grep -q -- "-> $2/#[0-9]* (deleted)\$"
}

# A client killed (SIGKILL) in the middle of a 64 MiB upload and of a 64 MiB download, while
# another client copies: the receiving end (the server on upload, the client on download)
# writes into an unnamed file, so neither the final name nor any temporary file is left, in
# the export or in the client's directory; the other copy completes and the server goes on
# serving. Then the named-temporary fallback, on a file system without O_TMPFILE (the 9p work
# directory): a download stopped by SIGTERM removes its temporary. Last, the server itself
# killed mid-upload leaves nothing in the export.
t_cp_killed() {
	local d=$CPD/cp.kill nine=$OUT/cp.kill.9p pid by rc=0 i
	rm -rf "$d" "$nine"
	mkdir -p "$d" "$nine"
	cp_mkfile "$d/big" $((64 << 20))
	cp_mkfile "$d/by" $((2 << 20))
	cp_serve cp_killed --allow srdma-client:rw || return
	# A slow bystander: small chunks, one in flight.
	cpc_bg "$CPD/cp.kill.by.json" --chunk-size 4k --depth 1 "$d/by" "$ADDR:by"
	by=$!
	cpc_bg /dev/null --chunk-size 64k --depth 1 "$d/big" "$ADDR:big"
	pid=$!
	check "upload started" wait_log "receiving 'big'" 1 60
	sleep 1
	check "the server receives into an unnamed file in the export (O_TMPFILE)" \
		cp_anon_open "$SERVER_PID" "$CP_EXPORT"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	check "server noticed the dead uploader" wait_log "upload of 'big' failed" 1 60
	check "no partial file under the final name" [ ! -e "$CP_EXPORT/big" ]
	check "no temporary file left by the dead upload" cp_no_leftovers "$CP_EXPORT" big
	# Download killed.
	cp "$d/big" "$CP_EXPORT/big2"
	cpc_bg /dev/null --chunk-size 64k --depth 1 "$ADDR:big2" "$d/big2.copy"
	pid=$!
	check "download started" wait_log "sending 'big2'" 1 60
	sleep 1
	check "the client receives into an unnamed file in its directory (O_TMPFILE)" \
		cp_anon_open "$pid" "$d"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	check "server noticed the dead downloader" wait_log "download of 'big2' failed" 1 60
	check "no partial download under the final name" [ ! -e "$d/big2.copy" ]
	check "no temporary file left by the dead download" cp_no_leftovers "$d"
	check "nothing else left in the client's directory" \
		[ "$(ls -A "$d" | sort | tr '\n' ' ')" = "big by " ]
	wait "$by" || rc=$?
	check "the bystander's copy completed (exit $rc)" jq_ok '.ok' "$CPD/cp.kill.by.json"
	check "bystander copy is byte for byte" cmp -s "$d/by" "$CP_EXPORT/by"
	# The fallback: no O_TMPFILE on 9p, so a named temporary, which SIGTERM removes.
	rc=0
	cpc_bg /dev/null --chunk-size 64k --depth 1 "$ADDR:big2" "$nine/big2.copy"
	pid=$!
	check "download to the 9p directory started" wait_log "sending 'big2'" 2 60
	sleep 1
	check "on 9p the copy in progress is a named temporary" \
		[ -n "$(find "$nine" -name '.big2.copy.srdma-cp.*')" ]
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || rc=$?
	check "the client ended by SIGTERM (exit $rc)" [ "$rc" = 143 ]
	check "SIGTERM: the named temporary is removed" cp_no_leftovers "$nine"
	check "SIGTERM: nothing under the final name" [ ! -e "$nine/big2.copy" ]
	check "server noticed the stopped downloader" wait_log "download of 'big2' failed" 2 60
	i=0
	cpc "$d/by" "$ADDR:after" >"$CPD/cp.kill.after.json" 2>/dev/null || i=$?
	check "a copy after the kills works (exit $i)" cmp -s "$d/by" "$CP_EXPORT/after"
	# The server killed mid-upload.
	cpc_bg /dev/null --chunk-size 64k --depth 1 "$d/big" "$ADDR:big3"
	pid=$!
	check "upload to the server about to be killed started" wait_log "receiving 'big3'" 1 60
	sleep 1
	kill -KILL "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	rc=0
	wait "$pid" || rc=$?
	check "the client of a killed server fails (exit $rc)" [ "$rc" = 1 ]
	check "killed server: nothing under the final name" [ ! -e "$CP_EXPORT/big3" ]
	check "killed server: no temporary file in the export" cp_no_leftovers "$CP_EXPORT"
	rm -rf "$d" "$nine" "$CP_EXPORT/big2"
}

# Two clients at once: an upload and a download of 64 MiB, in parallel, each byte for byte.
t_cp_concurrent() {
	local d=$CPD/cp.conc p1 p2 r1=0 r2=0
	mkdir -p "$d"
	cp_mkfile "$d/a" $((64 << 20))
	cp_serve cp_concurrent --allow srdma-client:rw || return
	cp_mkfile "$CP_EXPORT/b" $((64 << 20))
	cpc_bg "$CPD/cp.conc.a.json" "$d/a" "$ADDR:a"
	p1=$!
	cpc_bg "$CPD/cp.conc.b.json" "$ADDR:b" "$d/b"
	p2=$!
	wait "$p1" || r1=$?
	wait "$p2" || r2=$?
	check "upload ran alongside (exit $r1)" jq_ok '.ok' "$CPD/cp.conc.a.json"
	check "download ran alongside (exit $r2)" jq_ok '.ok' "$CPD/cp.conc.b.json"
	check "upload byte for byte" cmp -s "$d/a" "$CP_EXPORT/a"
	check "download byte for byte" cmp -s "$CP_EXPORT/b" "$d/b"
	check "the two sessions overlapped (both connected before either ended)" \
		awk '/connected$/ { c++ } /ended|closed after/ { if (c < 2) exit 1; exit 0 }' "$CP_LOG"
	cp_stop
	rm -rf "$d" "$CP_EXPORT"
}

# An export on a 4 MiB file system: an 8 MiB upload fails with "No space left", leaves nothing,
# and a small upload right after works. A file rewritten while the server reads it: the
# download fails with "changed while being read" and leaves nothing.
t_cp_disk_full_and_changed() {
	local d=$CPD/cp.full small f=$CPD/cp.full.json pid
	mkdir -p "$d"
	cp_mkfile "$d/8m" $((8 << 20))
	cp_mkfile "$d/small" 1000
	cp_serve cp_full --allow srdma-client:rw || return
	small=$CP_EXPORT/small
	mkdir -p "$small"
	if ! mount -t tmpfs -o size=4m tmpfs "$small" 2>/dev/null; then
		fail "cannot mount a small tmpfs (not root?)"
		cp_stop
		return
	fi
	cpc "$d/8m" "$ADDR:small/8m" >"$f" 2>/dev/null
	check "upload onto a full disk fails with a clear error" \
		jq_ok '.ok == false and (.error | test("No space left"))' "$f"
	check "full disk: no file and no temporary left" \
		[ -z "$(ls -A "$small")" ]
	cpc "$d/small" "$ADDR:small/ok" >"$f" 2>/dev/null
	check "a small upload to the same disk then works" cmp -s "$d/small" "$small/ok"
	umount "$small"
	# The server reads 4 KiB per round trip; the file is rewritten in place meanwhile.
	cp_mkfile "$CP_EXPORT/grow" $((4 << 20))
	cpc_bg "$CPD/cp.changed.json" --chunk-size 4k --depth 1 "$ADDR:grow" "$d/grow"
	pid=$!
	check "slow download started" wait_log "sending 'grow'" 1 60
	dd if=/dev/urandom of="$CP_EXPORT/grow" bs=4096 count=1 seek=10 conv=notrunc 2>/dev/null
	wait "$pid"
	f=$CPD/cp.changed.json
	check "a file changed while being read: clear error" \
		jq_ok '.ok == false and (.error | test("changed while being read"))' "$f"
	check "changed file: nothing under the final name" [ ! -e "$d/grow" ]
	check "changed file: no temporary left" cp_no_leftovers "$d"
	cp_stop
}

register cp_basic cp_modes cp_tree cp_hostile cp_killed cp_concurrent cp_disk_full_and_changed

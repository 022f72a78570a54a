#!/usr/bin/env bash
# run.sh CLIENT PRELOAD MODE [COUNT]: netmap_client under LD_PRELOAD=PRELOAD,
# on port names of this run's own (pipe names are shared by a user's processes).
#   MODE pipe|vale|wakeup|control: one process; cross: rx and tx in two processes;
#   exec ARGS...: the client with ARGS as they are.
set -euo pipefail
client=$1 preload=$2 mode=$3 count=${4:-1000}
name=np$$
# A sanitizer's runtime must come first in the process (a sanitized build
# links it into the client): preload it before the library.
runtime=$(ldd "$client" | awk '/lib(a|t)san\.so/ {print $3}')
preload=${runtime:+$runtime:}$preload
case $mode in
exec)
    LD_PRELOAD=$preload exec "$client" "${@:4}"
    ;;
cross)
    LD_PRELOAD=$preload "$client" rx "netmap:$name}0" "$count" &
    rx=$!
    LD_PRELOAD=$preload "$client" tx "netmap:$name{0" "$count" &
    tx=$!
    trap 'kill $rx $tx 2>/dev/null || true' EXIT
    wait "$rx" # the receiver's status: every frame, in order
    kill -USR1 "$tx" # the sender may close its end now
    wait "$tx"
    trap - EXIT
    ;;
*)
    LD_PRELOAD=$preload exec "$client" "$mode" "$name" "$count"
    ;;
esac

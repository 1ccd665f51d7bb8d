# shellcheck shell=bash
# Helpers for the QEMU test guest (sourced by tests/e2e/qemu.sh; usable by
# hand: `. tests/e2e/guest/guest.sh`). bash only.
#
#   guest_domain_xml NAME UUID CONSOLE_SOCK BALLOON [MEMORY_MIB]
#       prints the domain XML; BALLOON is stats1 (virtio, stats period 1),
#       nostats (virtio, no stats period) or none (<memballoon model='none'/>)
#   guest_console_open NAME CONSOLE_SOCK   connect to a running guest's
#       serial console (the guest's output is appended to $GUEST_LOGDIR/NAME.console)
#   guest_wait_ready NAME [SECONDS]        ping until the guest's /init answers
#   guest_cmd NAME COMMAND [ARG] [SECONDS] send a command, wait for its reply,
#       print the reply; status 1 on an error reply or no reply in time
#   guest_console_close NAME               disconnect (before destroy/start)
#
# The console is a unix socket QEMU listens on (one client at a time); a
# socat per guest relays it: commands go in through a FIFO, the guest's
# output goes to the .console file; the relay's pids are in NAME.relay, so
# the helpers work from any shell with the same GUEST_LOGDIR. After the guest stops
# (destroy, crash) the socket is gone: close and reopen the console after
# each start.

GUEST_DIR_SRC=${GUEST_DIR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
GUEST_LOGDIR=${GUEST_LOGDIR:-${TMPDIR:-/tmp}}

guest_domain_xml() {
  local name=$1 uuid=$2 sock=$3 balloon=$4 mem=${5:-256}
  local dir=${VI_GUEST_DIR:-/var/cache/virt_inspector-tests/guest} mb
  case $balloon in
  stats1) mb="<memballoon model='virtio'><stats period='1'/></memballoon>" ;;
  nostats) mb="<memballoon model='virtio'/>" ;;
  none) mb="<memballoon model='none'/>" ;;
  *)
    echo "guest_domain_xml: balloon must be stats1, nostats or none" >&2
    return 2
    ;;
  esac
  sed -e "s|@NAME@|$name|g" -e "s|@UUID@|$uuid|g" \
    -e "s|@MEMORY_MIB@|$mem|g" -e "s|@KERNEL@|$dir/vmlinuz|g" \
    -e "s|@INITRD@|$dir/initrd.gz|g" -e "s|@CONSOLE@|$sock|g" \
    -e "s|@MEMBALLOON@|$mb|g" "$GUEST_DIR_SRC/domain.xml.in"
}

_guest_pids() { cat "$GUEST_LOGDIR/$1.relay" 2>/dev/null; }

guest_console_close() {
  local name=$1 pid
  for pid in $(_guest_pids "$name"); do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $(_guest_pids "$name"); do
    wait "$pid" 2>/dev/null || true
  done
  rm -f "$GUEST_LOGDIR/$name.fifo" "$GUEST_LOGDIR/$name.relay"
}

guest_console_open() {
  local name=$1 sock=$2 fifo i relay holder
  fifo=$GUEST_LOGDIR/$name.fifo
  guest_console_close "$name"
  # QEMU creates the socket while starting; virsh start has returned by
  # then, but allow a moment.
  for ((i = 0; i < 50; i++)); do
    [ -S "$sock" ] && break
    sleep 0.1
  done
  [ -S "$sock" ] || {
    echo "guest_console_open: no console socket $sock" >&2
    return 1
  }
  mkfifo "$fifo"
  : >"$GUEST_LOGDIR/$name.console"
  # socat reads commands from the FIFO; a sleeping holder keeps the FIFO's
  # write end open so that socat never sees end-of-file between commands.
  socat -T 86400 - "UNIX-CONNECT:$sock" <"$fifo" >>"$GUEST_LOGDIR/$name.console" 2>&1 &
  relay=$!
  sleep 2147483647 >"$fifo" &
  holder=$!
  echo "$relay $holder" >"$GUEST_LOGDIR/$name.relay"
}

# _guest_send NAME LINE
_guest_send() {
  local relay
  relay=$(_guest_pids "$1" | cut -d' ' -f1)
  if [ -z "$relay" ] || ! kill -0 "$relay" 2>/dev/null ||
    ! [ -p "$GUEST_LOGDIR/$1.fifo" ]; then
    echo "guest: console of $1 is not open (guest stopped?)" >&2
    return 1
  fi
  echo "$2" >"$GUEST_LOGDIR/$1.fifo"
}

# _guest_reply NAME ID: the reply line to ID, if any.
_guest_reply() {
  tr -d '\r' <"$GUEST_LOGDIR/$1.console" | grep -a -m1 -o "@@ $2 .*"
}

guest_wait_ready() {
  local name=$1 secs=${2:-120} end id
  end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    id=p$RANDOM$RANDOM
    _guest_send "$name" "$id ping" || return 1
    for _ in 1 2 3 4 5; do
      if tr -d '\r' <"$GUEST_LOGDIR/$name.console" | grep -aq '@@ p[0-9]* ok pong'; then
        return 0
      fi
      sleep 0.2
    done
  done
  echo "guest_wait_ready: $name did not answer within ${secs}s" >&2
  return 1
}

guest_cmd() {
  local name=$1 cmd=$2 arg=${3:-} secs=${4:-60} end id reply
  id=c$RANDOM$RANDOM
  _guest_send "$name" "$id $cmd $arg" || return 1
  end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    if reply=$(_guest_reply "$name" "$id"); then
      echo "$reply"
      case $reply in "@@ $id ok"*) return 0 ;; *) return 1 ;; esac
    fi
    sleep 0.1
  done
  echo "guest_cmd: no reply from $name to '$cmd $arg' within ${secs}s" >&2
  return 1
}

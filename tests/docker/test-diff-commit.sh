#!/usr/bin/env bash
# `docker diff` of a container on buse lists exactly the changes made in it (Changes through
# the plugin), and `docker commit` makes an image whose containers see those changes.
source "$(dirname "$0")/lib.sh"
docker_setup
make_busybox_image bb
docker run --name c1 --network none bb sh -c '
  echo new >/etc/newfile; echo more >>/etc/passwd; rm /etc/motd; mkdir -p /newdir/sub
  chmod 0711 /home; rm -r /var/log; touch /tmp/t' >/dev/null
want="C /etc
A /etc/newfile
D /etc/motd
C /etc/passwd
C /home
A /newdir
A /newdir/sub
C /tmp
A /tmp/t
C /var
D /var/log"
got=$(docker diff c1 | sort -k2)
[ "$got" = "$(echo "$want" | sort -k2)" ] ||
  { diff <(echo "$want" | sort -k2) <(echo "$got"); fail "docker diff c1"; }
ok "docker diff lists exactly the changes"

docker commit -m "buse commit test" c1 committed >/dev/null
assert_eq "$(docker history -q committed | wc -l)" 2 "committed image layers"
out=$(docker run --rm --network none committed sh -c '
  cat /etc/newfile; tail -n 1 /etc/passwd; ls /etc/motd 2>&1; stat -c %a /home
  ls -d /newdir/sub /var/log 2>&1; ls /tmp')
want="new
more
ls: /etc/motd: No such file or directory
711
ls: /var/log: No such file or directory
/newdir/sub
t"
[ "$out" = "$want" ] || { diff <(echo "$want") <(echo "$out"); fail "committed image content"; }
ok "committed image content"
# A commit with no change must add no layer: dockerd recognises an empty change by the digest
# of its tar (exactly 1024 zero bytes) and records only a history entry.
docker run --name c2 --network none committed true
docker commit c2 empty >/dev/null
n=$(docker image inspect -f '{{len .RootFS.Layers}}' empty)
assert_eq "$n" 2 "layers of the image committed without a change"
docker rm c1 c2 >/dev/null

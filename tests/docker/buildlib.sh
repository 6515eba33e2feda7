# shellcheck shell=bash
# A build context that exercises every kind of change a layer can hold, and the checks of an
# image built from it.  Sourced by the build, save/load and push tests (after lib.sh).

BIG_MIB=100
# The 100 MiB file's content, the same on every run: 10-byte numbered lines, so every 4 KiB
# block differs from every other.
big_cmd="seq -w 1 999999999 | head -c $((BIG_MIB * 1048576)) >/big"

# make_build_context DIR: the Dockerfile (FROM bb) and the files it copies.  cap.tar holds
# usr/bin/capfile with a security.capability xattr (cap_net_raw+ep).  It comes in by ADD of a
# tar because COPY of a context file drops xattrs in both builders of dockerd 20.10 (checked on
# vfs), while ADD extracts them from the tar's SCHILY.xattr records.
make_build_context() {
  local d=$1
  mkdir -p "$d/cap/usr/bin"
  echo "hello from the build context" >"$d/hello.txt"
  printf '#!/bin/sh\necho cap\n' >"$d/cap/usr/bin/capfile"
  chmod 0755 "$d/cap/usr/bin/capfile"
  setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 \
    "$d/cap/usr/bin/capfile"
  tar --xattrs --xattrs-include='security.*' --owner=0 --group=0 --mtime=@1700000000 \
    -C "$d/cap" -cf "$d/cap.tar" usr/bin/capfile
  rm -rf "$d/cap"
  cat >"$d/Dockerfile" <<EOT
FROM bb
COPY hello.txt /etc/hello.txt
COPY --chown=12:34 hello.txt /opt/chowned
ADD cap.tar /
ENV BUSE_TEST=1
RUN echo overwritten >/etc/motd && rm /etc/nsswitch.conf
LABEL org.example.buse=test
RUN chmod 0750 /home && chmod 0604 /etc/hello.txt && touch /opt/owned && chown 1000:1001 /opt/owned
RUN mkdir /links && echo linked >/links/a && ln /links/a /links/b && ln -s a /links/sym \
 && ln -s /etc/hello.txt /links/abs
RUN $big_cmd
RUN rm -rf /var/log && mkdir -p /var/log/new && echo fresh >/var/log/new/f
EOT
}

# expected_big_md5: md5 of /big.
expected_big_md5() {
  { seq -w 1 999999999 2>/dev/null || true; } | head -c $((BIG_MIB * 1048576)) | md5sum |
    cut -d' ' -f1
}

# check_built_image IMAGE: every change of the Dockerfile is visible in a container of IMAGE,
# and `docker export` keeps the capability xattr.
check_built_image() {
  local img=$1 out
  out=$(docker run --rm --network none "$img" sh -c '
    cat /etc/hello.txt /etc/motd
    ls /etc/nsswitch.conf 2>&1
    stat -c "%n %a %u:%g %h" /home /etc/hello.txt /opt/owned /opt/chowned /usr/bin/capfile \
      /links/a /links/b
    readlink /links/sym; readlink /links/abs; cat /links/sym /links/abs /var/log/new/f
    ls /var/log
    md5sum /big; stat -c %s /big' 2>&1) || fail "run $img: $out"
  local want
  want="hello from the build context
overwritten
ls: /etc/nsswitch.conf: No such file or directory
/home 750 0:0 2
/etc/hello.txt 604 0:0 1
/opt/owned 644 1000:1001 1
/opt/chowned 644 12:34 1
/usr/bin/capfile 755 0:0 1
/links/a 644 0:0 2
/links/b 644 0:0 2
a
/etc/hello.txt
linked
hello from the build context
fresh
new
$(expected_big_md5)  /big
$((BIG_MIB * 1048576))"
  [ "$out" = "$want" ] || { diff <(echo "$want") <(echo "$out"); fail "image $img content"; }
  ok "image $img: files, modes, owners, links, deletes, 100 MiB file"
  # ENV and LABEL steps change no file: they must add no layer (1 + 3 copies + 5 RUNs).
  assert_eq "$(docker image inspect -f '{{len .RootFS.Layers}}' "$img")" 9 "layers of $img"
  local cid cap
  cid=$(docker create --network none "$img" true)
  cap=$(docker export "$cid" | python3 "$TOP/tests/docker/tarlist.py" --xattr usr/bin/capfile)
  docker rm "$cid" >/dev/null
  assert_eq "$cap" "security.capability=0100000200200000000000000000000000000000" \
    "capability xattr in docker export"
}

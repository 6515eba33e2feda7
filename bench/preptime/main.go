// preptime SOCKET NAMESPACE SNAPSHOTTER PARENT N: time N Prepare calls of a new child of the
// committed snapshot PARENT through containerd's snapshots service (one gRPC connection, as
// containerd's clients keep one), each child removed again (untimed) before the next.  Prints
// one "prepare_ms X" line per call.  Built in GOPATH mode from Debian's
// golang-github-containerd-containerd-dev (the v1 snapshots API is the same in containerd 2.x).
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func die(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "preptime: "+f+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 6 {
		die("usage: preptime SOCKET NAMESPACE SNAPSHOTTER PARENT N")
	}
	sock, ns, sn, parent := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	n, err := strconv.Atoi(os.Args[5])
	if err != nil || n < 1 {
		die("bad N %q", os.Args[5])
	}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := grpc.DialContext(ctx, sock, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithContextDialer(dial))
	cancel()
	if err != nil {
		die("connect %s: %v", sock, err)
	}
	defer conn.Close()
	c := snapshotsapi.NewSnapshotsClient(conn)
	ctx = metadata.AppendToOutgoingContext(context.Background(), "containerd-namespace", ns)
	// One untimed call first: the connection and the parent's records are warm.
	if _, err := c.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Snapshotter: sn, Key: parent}); err != nil {
		die("stat %s: %v", parent, err)
	}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("preptime-%d-%d", os.Getpid(), i)
		t0 := time.Now()
		_, err := c.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: sn, Key: key,
			Parent: parent})
		d := time.Since(t0)
		if err != nil {
			die("prepare %s on %s: %v", key, parent, err)
		}
		fmt.Printf("prepare_ms %.3f\n", float64(d.Nanoseconds())/1e6)
		// A child outside any lease may already be gone: containerd's garbage collector
		// (run after the previous Remove) collects it.  That is not a failure.
		_, err = c.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: sn, Key: key})
		if err != nil && status.Code(err) != codes.NotFound {
			die("remove %s: %v", key, err)
		}
	}
}

// Package quota is a stand-in for moby's small quota package, which Debian's
// golang-github-docker-docker-dev does not ship although graphtest imports it.  It holds only
// what graphtest uses: the error a driver returns when it cannot limit a layer's size.
package quota // import "github.com/docker/docker/quota"

// ErrQuotaNotSupported is returned when the backing filesystem cannot enforce a size limit.
var ErrQuotaNotSupported = errQuotaNotSupported{}

type errQuotaNotSupported struct{}

// NotImplemented marks the error as errdefs.ErrNotImplemented.
func (errQuotaNotSupported) NotImplemented() {}

func (errQuotaNotSupported) Error() string {
	return "filesystem does not support, or has not enabled quotas"
}

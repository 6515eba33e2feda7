// moby's graph driver conformance suite (daemon/graphdriver/graphtest, v20.10) run against the
// buse plugin through moby's own plugin proxy, exactly the code dockerd uses.
//
// graphtest calls graphdriver.GetDriver(name, nil, Options{...}) without a plugin getter and
// without ExperimentalEnabled, so on its own it can never reach a plugin.  This file registers a
// "builtin" driver (registeredName) whose init asks GetDriver again, this time with a getter that
// does legacy discovery (pkg/plugins: /run/docker/plugins/NAME.sock or
// /etc/docker/plugins/NAME.spec) and experimental mode on, so GetDriver builds the same
// graphDriverProxy dockerd would.  The plugin name is $BUSE_PLUGIN (default "buse").
package busegraphtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/daemon/graphdriver"
	"github.com/docker/docker/daemon/graphdriver/graphtest"
	"github.com/docker/docker/pkg/idtools"
	"github.com/docker/docker/pkg/plugingetter"
	"github.com/docker/docker/pkg/plugins"
)

// The name graphtest is given; it differs from the plugin's so GetDriver does not recurse.
const registeredName = "buse-graphtest"

func pluginName() string {
	if n := os.Getenv("BUSE_PLUGIN"); n != "" {
		return n
	}
	return "buse"
}

// legacyGetter finds v1 plugins the way dockerd does for a --storage-driver that is no builtin.
type legacyGetter struct{}

func (legacyGetter) Get(name, capability string, mode int) (plugingetter.CompatPlugin, error) {
	return plugins.Get(name, capability)
}

func (legacyGetter) GetAllByCap(capability string) ([]plugingetter.CompatPlugin, error) {
	return nil, errors.New("not implemented")
}

func (legacyGetter) GetAllManagedPluginsByCap(capability string) []plugingetter.CompatPlugin {
	return nil
}

func (legacyGetter) Handle(capability string, callback func(string, *plugins.Client)) {}

func init() {
	graphdriver.Register(registeredName, func(home string, options []string, uidMaps, gidMaps []idtools.IDMap) (graphdriver.Driver, error) {
		// home is <graphtest root>/buse-graphtest; the plugin gets Init(<root>/<plugin name>).
		return graphdriver.GetDriver(pluginName(), legacyGetter{}, graphdriver.Options{
			Root:                filepath.Dir(home),
			DriverOptions:       options,
			UIDMaps:             uidMaps,
			GIDMaps:             gidMaps,
			ExperimentalEnabled: true,
		})
	})
}

func TestBuseCreateEmpty(t *testing.T) { graphtest.DriverTestCreateEmpty(t, registeredName) }
func TestBuseCreateBase(t *testing.T)  { graphtest.DriverTestCreateBase(t, registeredName) }
func TestBuseCreateSnap(t *testing.T)  { graphtest.DriverTestCreateSnap(t, registeredName) }
func TestBuseDeepLayerRead(t *testing.T) {
	graphtest.DriverTestDeepLayerRead(t, 128, registeredName)
}
func TestBuseDiffApply(t *testing.T) { graphtest.DriverTestDiffApply(t, 150, registeredName) }
func TestBuseChanges(t *testing.T)   { graphtest.DriverTestChanges(t, registeredName) }
func TestBuseSetQuota(t *testing.T)  { graphtest.DriverTestSetQuota(t, registeredName, true) }

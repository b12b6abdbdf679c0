//go:build !linux

package media

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

// Outside Linux every bridged packet goes through user space.

const kernelCopyMax = 0

type kernelRelay struct {
	stop, done chan struct{}
}

type kleg struct {
	k         *kernelRelay
	l         *leg
	installed bool
}

func openKernelRelay(*Metrics, *slog.Logger) (*kernelRelay, error) {
	return nil, errors.New("kernel relay needs Linux")
}

func (k *kernelRelay) run()                                    {}
func (k *kernelRelay) runStats() (uint64, time.Duration, bool) { return 0, 0, false }
func (k *kernelRelay) close()                                  {}
func (k *kernelRelay) register(l *leg) *kleg                   { return &kleg{k: k, l: l} }
func (k *kernelRelay) unregister(*kleg)                        {}
func (kl *kleg) removeLocked(*txState)                         {}
func (kl *kleg) forwarded() uint64                             { return 0 }
func (kl *kleg) fold()                                         {}
func (kl *kleg) installLocked(netip.AddrPort, netip.AddrPort, uint16, uint16, uint32, uint8, uint8, *txState) error {
	return errors.New("kernel relay needs Linux")
}

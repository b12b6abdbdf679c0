//go:build !linux

package siptest

import (
	"errors"
	"time"
)

// RTPTap records the audio arriving at a loopback UDP port; Linux only.
type RTPTap struct{}

// TapRTP needs a Linux packet socket.
func TapRTP(int) (*RTPTap, error) { return nil, errors.New("rtp tap: needs Linux") }

// ReceivedSince is the audio received at or after at.
func (*RTPTap) ReceivedSince(time.Time) []int16 { return nil }

// Packets is how many audio packets the tap recorded.
func (*RTPTap) Packets() int { return 0 }

// Close stops the tap.
func (*RTPTap) Close() error { return nil }

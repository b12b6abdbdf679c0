package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// calibration is how fast this machine does what the server's hot paths are
// made of, so that figures from two machines of the same kind (or one machine
// on two days) can be told apart from a change in the code: the same commit
// has met a target on one VM and failed it on the next.
type calibration struct {
	// UDPPacketUS is the CPU of one loopback sendto and one recvfrom of a
	// 172-byte datagram (an RTP packet of 20 ms of PCMU): the kernel's floor
	// under one relayed packet.
	UDPPacketUS float64 `json:"udp_loopback_packet_us"`
	// FileCreateUS is the CPU of creating one file in the temporary folder,
	// as a recording is created (S19). ext4 makes it slow for a few minutes
	// after many files were deleted (it skips recently freed inodes).
	FileCreateUS float64 `json:"file_create_us"`
	// SortMS is the CPU of sorting 2^20 integers: plain single-core speed.
	SortMS float64 `json:"sort_1m_ms"`
}

func (c calibration) String() string {
	return fmt.Sprintf("one loopback UDP send+receive %.2f µs CPU, one file created %.0f µs, 2^20 ints sorted %.0f ms (machine speed, to compare runs across machines)",
		c.UDPPacketUS, c.FileCreateUS, c.SortMS)
}

// measureCalibration runs each probe on one locked thread and keeps the
// fastest of three rounds (the least disturbed by the rest of the machine).
func measureCalibration(dir string) (calibration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var c calibration
	best := func(f func() (time.Duration, error)) (time.Duration, error) {
		var all []time.Duration
		for range 3 {
			d, err := f()
			if err != nil {
				return 0, err
			}
			all = append(all, d)
		}
		return slices.Min(all), nil
	}
	udp, err := best(udpPacketCPU)
	if err != nil {
		return c, err
	}
	files, err := best(func() (time.Duration, error) { return fileCreateCPU(dir) })
	if err != nil {
		return c, err
	}
	sorted, _ := best(sortCPU)
	c.UDPPacketUS = float64(udp) / float64(time.Microsecond)
	c.FileCreateUS = float64(files) / float64(time.Microsecond)
	c.SortMS = float64(sorted) / float64(time.Millisecond)
	return c, nil
}

// udpPacketCPU sends datagrams to its own loopback socket and reads each back.
func udpPacketCPU() (time.Duration, error) {
	const n = 5000
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return 0, fmt.Errorf("calibration socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return 0, fmt.Errorf("calibration bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return 0, fmt.Errorf("calibration socket name: %w", err)
	}
	pkt, buf := make([]byte, 172), make([]byte, 2048)
	start := media.ThreadCPU()
	for range n {
		if err := syscall.Sendto(fd, pkt, 0, sa); err != nil {
			return 0, fmt.Errorf("calibration send: %w", err)
		}
		if _, _, err := syscall.Recvfrom(fd, buf, 0); err != nil {
			return 0, fmt.Errorf("calibration receive: %w", err)
		}
	}
	return (media.ThreadCPU() - start) / n, nil
}

// fileCreateCPU creates a few files as a recording is created. Few, because
// the files it removes make the next creations slower for minutes.
func fileCreateCPU(dir string) (time.Duration, error) {
	const n = 50
	d, err := os.MkdirTemp(dir, "calibrate-")
	if err != nil {
		return 0, fmt.Errorf("calibration folder: %w", err)
	}
	defer os.RemoveAll(d)
	start := media.ThreadCPU()
	for i := range n {
		f, err := os.OpenFile(filepath.Join(d, fmt.Sprintf("%d.wav", i)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
		if err != nil {
			return 0, fmt.Errorf("calibration file: %w", err)
		}
		f.Close()
	}
	return (media.ThreadCPU() - start) / n, nil
}

func sortCPU() (time.Duration, error) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]int, 1<<20)
	for i := range v {
		v[i] = r.Int()
	}
	start := media.ThreadCPU()
	slices.Sort(v)
	return media.ThreadCPU() - start, nil
}

package sip

import (
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/sip/media"
)

// sip.rtp_send, sip.rtp_receive, sip.rtp_priority and sip.rtp_relay take
// their documented values only.
func TestConfigRTPModes(t *testing.T) {
	tests := []struct {
		name          string
		send, receive string
		priority      string
		relay         string
		wantErr       string
	}{
		{name: "defaults", send: media.SendAuto, receive: media.ReceiveShared},
		{name: "per-call readers", send: media.SendEach, receive: media.ReceivePerCall},
		{name: "unknown receive mode", send: media.SendAuto, receive: "epoll",
			wantErr: `sip.rtp_receive "epoll": want shared or per_call`},
		{name: "unknown send mode", send: "sendmmsg", receive: media.ReceiveShared,
			wantErr: `sip.rtp_send "sendmmsg"`},
		{name: "normal priority", send: media.SendAuto, receive: media.ReceiveShared, priority: media.PriorityNormal},
		{name: "unknown priority", send: media.SendAuto, receive: media.ReceiveShared, priority: "high",
			wantErr: `sip.rtp_priority "high": want realtime or normal`},
		{name: "user-space relay", send: media.SendAuto, receive: media.ReceiveShared, relay: media.RelayUser},
		{name: "kernel relay required", send: media.SendAuto, receive: media.ReceiveShared, relay: media.RelayKernel},
		{name: "unknown relay", send: media.SendAuto, receive: media.ReceiveShared, relay: "xdp",
			wantErr: `sip.rtp_relay "xdp": want auto, kernel or user`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.RTPSend, c.RTPReceive = tt.send, tt.receive
			if tt.priority != "" {
				c.RTPPriority = tt.priority
			}
			if tt.relay != "" {
				c.RTPRelay = tt.relay
			}
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

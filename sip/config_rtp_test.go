package sip

import (
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/sip/media"
)

// sip.rtp_send, sip.rtp_receive and sip.rtp_priority take their documented
// values only.
func TestConfigRTPModes(t *testing.T) {
	tests := []struct {
		name          string
		send, receive string
		priority      string
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.RTPSend, c.RTPReceive = tt.send, tt.receive
			if tt.priority != "" {
				c.RTPPriority = tt.priority
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

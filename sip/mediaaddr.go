package sip

import (
	"fmt"
	"net/netip"

	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// mediaAddrError is an SDP connection address we refuse to send media to,
// with the warn-code of RFC 3261 §20.43 that explains it.
type mediaAddrError struct {
	code   int // 330 multicast not available, 399 miscellaneous
	reason string
}

func (e *mediaAddrError) Error() string { return e.reason }

// warning is the Warning header of a 488 for e.
func (e *mediaAddrError) warning() sip.Header {
	return sip.NewHeader("Warning", fmt.Sprintf("%d hotline %q", e.code, e.reason))
}

// Who offers the media address checkMediaAddr looks at.
const (
	// mediaFromCaller: anyone who dials the hotline, unauthenticated.
	mediaFromCaller = iota
	// mediaFromAgent: an agent's phone, authenticated by digest (feature
	// codes) or reached at its registered contact (agent legs). Such phones
	// are often multi-homed (a VPN beside the LAN) and put another of their
	// addresses in SDP than they signal from: foreign addresses are allowed.
	mediaFromAgent
)

// checkMediaAddr refuses an SDP c= address that would make us send a call's
// RTP where the signalling did not come from: multicast, unspecified, or,
// from a caller, foreign to source unless sip.allow_foreign_media (a media
// gateway or a proxy in front). Otherwise anyone could point our streams at
// a third party. In a re-INVITE c=0.0.0.0 is the old hold of RFC 2543 and is
// allowed (RFC 3264 §8.4): we send nothing to it.
func (s *Server) checkMediaAddr(sd *media.SessionDescription, source netip.Addr, inDialog bool, from int) *mediaAddrError {
	addr := sd.Addr.Unmap()
	switch {
	case addr.IsMulticast():
		return &mediaAddrError{330, "multicast media address " + addr.String() + " not available"}
	case addr.IsUnspecified() && inDialog:
		return nil
	case addr.IsUnspecified():
		return &mediaAddrError{399, "unspecified media address " + addr.String() + " in a new call"}
	case s.cfg.AllowForeignMedia || from == mediaFromAgent || addr == source.Unmap():
		return nil
	}
	return &mediaAddrError{399, "media address " + addr.String() + " is not the signalling source"}
}

// refuseMedia answers 488 with the Warning that says why (RFC 3261 §21.4.26).
func (s *Server) refuseMedia(req *sip.Request, tx sip.ServerTransaction, e *mediaAddrError) {
	res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
	res.AppendHeader(e.warning())
	s.respond(tx, res)
}

// responseSourceIP is the address a response came from (its transport
// source), like sourceIP for requests.
func responseSourceIP(res *sip.Response) netip.Addr {
	ap, err := netip.ParseAddrPort(res.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

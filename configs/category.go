package configs

import "slices"

// The contact categories (S3). The first four are the IVR menu's and each
// has its own queue; an agent may refine a ticket to a suggestion or a
// report (举报).
const (
	CategoryInquiry    = "inquiry"
	CategoryComplaint  = "complaint"
	CategoryEmergency  = "emergency"
	CategoryBusiness   = "business"
	CategorySuggestion = "suggestion"
	CategoryReport     = "report"
)

// QueueCategories lists the categories that have a queue, in menu order.
func QueueCategories() []string {
	return []string{CategoryInquiry, CategoryComplaint, CategoryEmergency, CategoryBusiness}
}

// TicketCategories lists every category a ticket may carry.
func TicketCategories() []string {
	return append(QueueCategories(), CategorySuggestion, CategoryReport)
}

// IsQueueCategory reports whether c has a queue.
func IsQueueCategory(c string) bool { return slices.Contains(QueueCategories(), c) }

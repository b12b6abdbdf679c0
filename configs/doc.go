// Package configs holds the hotline's configuration files (hotline.yaml,
// calendar.yaml, deadlines.yaml) and the vocabulary that they and every
// package share, declared once here: the contact categories (S3), the YAML
// duration, and the two records that cross from the call flow to the stores
// (a queued caller, a callback request). It imports nothing of ours, so every
// package may import it.
//
// The rules of the service standard are named by their ids in comments,
// tests and metrics help across the code:
//
//	S1  pick up within three rings; a longer wait is apologised for and kept
//	S2  standard opening with the agent's staff number
//	S3  classify every contact: inquiry, complaint, emergency, business
//	S4  verify identity: ID numbers validated (ISO 7064 MOD 11-2)
//	S5  never leak personal data: ID numbers encrypted, masked, unmasks audited
//	S6  emergencies first, at any hour
//	S7  special groups get priority in their queue
//	S8  waiting callers hear their position and estimated wait
//	S9  office hours, holidays and make-up days; callbacks after hours
//	S10 transfer to a specialist line or another channel (REFER allowlist)
//	S11 wait for the caller to hang up first; who hung up is kept
//	S12 enter the ticket within 5 minutes of the call's end
//	S13 the registration form's fields, each with its own message
//	S14 response deadlines by category, in clock or working time
//	S15 breaches escalate (level 1, then level 2)
//	S16 first contact is responsible: a repeat caller goes to the owner
//	S17 complaints are acknowledged with a reference
//	S18 every case is evaluated: one-key survey
//	S19 calls are recorded
//	S20 phone, web and letter channels
//	S21 nuisance numbers are noted and turned away
//
// The full text is the centre's service standard; the numbers it gives are
// defaults in these files, never constants in the code.
package configs

package domain

// Code is the stable name of a refusal: clients read it as a problem's
// code, the API turns it into an HTTP status in one place (api/problem.go)
// and the workflow's application error types map to it one to one
// (workflows/contract).
type Code string

// Refusal codes.
const (
	CodeNotFound           Code = "not_found"
	CodeRoleRequired       Code = "role_required"
	CodeSeparationOfDuties Code = "separation_of_duties"
	CodeNotRequester       Code = "not_requester"
	CodeAlreadyDecided     Code = "already_decided"
	CodeInvalidTransition  Code = "invalid_transition"
	CodeExpired            Code = "expired"
	CodeTooManyQuestions   Code = "too_many_questions"
	CodeInvalidDecision    Code = "invalid_decision"
)

// Refusal is a change the rules do not allow: Code says which rule, Detail
// says it in words for the person who asked.
type Refusal struct {
	Code   Code
	Detail string
}

func (r *Refusal) Error() string { return r.Detail }

// Is makes every refusal with the same code match the sentinels below, so
// errors.Is(err, ErrDecided) holds whatever the detail says.
func (r *Refusal) Is(target error) bool {
	t, ok := target.(*Refusal)
	return ok && t.Code == r.Code
}

// Refused is a refusal with code and detail.
func Refused(code Code, detail string) *Refusal { return &Refusal{Code: code, Detail: detail} }

// The refusals, one per code; errors.Is matches any refusal of the code.
var (
	// ErrNotVisible: the approval is not in any of the caller's tenants;
	// to them it does not exist.
	ErrNotVisible = Refused(CodeNotFound, "no such approval")
	// ErrNotApprover: the caller has no approver authority in the
	// approval's tenant.
	ErrNotApprover = Refused(CodeRoleRequired, "no approver authority in the approval's tenant")
	// ErrSelfDecision: the caller requested the escalation.
	ErrSelfDecision = Refused(CodeSeparationOfDuties, "the requester cannot decide their own escalation")
	// ErrNotRequester: only the requester may withdraw an escalation or
	// answer a question about it.
	ErrNotRequester = Refused(CodeNotRequester, "only the requester can do this")
	// ErrDecided: the approval is no longer waiting (decided, expired or
	// withdrawn).
	ErrDecided = Refused(CodeAlreadyDecided, "the approval is already decided")
	// ErrNotWaiting: the change does not fit where the escalation is (a
	// second question before the answer, an answer nobody asked for).
	ErrNotWaiting = Refused(CodeInvalidTransition, "the escalation is not waiting for this")
	// ErrExpired: the escalation's deadline (or the question's time for
	// an answer) has passed.
	ErrExpired = Refused(CodeExpired, "the escalation's deadline has passed")
	// ErrTooManyQuestions: the escalation has had every question its
	// policy allows.
	ErrTooManyQuestions = Refused(CodeTooManyQuestions, "the escalation has had every question its policy allows")
	// ErrInvalidDecision: what a decision or change says breaks a rule.
	ErrInvalidDecision = Refused(CodeInvalidDecision, "the decision is not valid")
)

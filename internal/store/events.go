package store

import "time"

// Delivery states of an event to one subscription.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Subscription is a tenant's endpoint for events out (Standard Webhooks).
// Secrets never leave through JSON: the API shows a new secret once, by hand.
type Subscription struct {
	ID                      string     `json:"id" gorm:"primaryKey"`
	TenantID                string     `json:"tenantId"`
	URL                     string     `json:"url"`
	EventTypes              StringList `json:"events" gorm:"column:event_types"`
	Description             string     `json:"description"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          *string    `json:"disabledReason,omitempty"`
	Secret                  string     `json:"-"`
	PreviousSecret          *string    `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"-"`
	CreatedBy               string     `json:"createdBy"`
	CreatedAt               time.Time  `json:"createdAt" gorm:"autoCreateTime:false"`
	UpdatedAt               time.Time  `json:"updatedAt" gorm:"autoUpdateTime:false"`
}

// TableName is the subscriptions' table.
func (Subscription) TableName() string { return "event_subscriptions" }

// Event is one state change as recorded for delivery: its ID is the
// webhook-id of every delivery, Body the exact bytes signed and sent.
type Event struct {
	ID         string    `json:"id" gorm:"primaryKey"`
	TenantID   string    `json:"tenantId"`
	Type       string    `json:"type"`
	Resource   string    `json:"resource"`
	ResourceID string    `json:"resourceId"`
	Sequence   int64     `json:"sequence"`
	Body       string    `json:"-"`
	CreatedAt  time.Time `json:"createdAt" gorm:"autoCreateTime:false"`
}

// EventDelivery is one event on its way to one subscription.
type EventDelivery struct {
	ID             string     `json:"id" gorm:"primaryKey"`
	SubscriptionID string     `json:"subscriptionId"`
	EventID        string     `json:"eventId"`
	TenantID       string     `json:"-"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attemptCount" gorm:"column:attempts"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	LastStatusCode *int       `json:"lastStatusCode,omitempty"`
	LastError      *string    `json:"lastError,omitempty"`
	CreatedAt      time.Time  `json:"createdAt" gorm:"autoCreateTime:false"`
	UpdatedAt      time.Time  `json:"updatedAt" gorm:"autoUpdateTime:false"`
	DeliveredAt    *time.Time `json:"deliveredAt,omitempty"`
}

// TableName is the deliveries' table.
func (EventDelivery) TableName() string { return "event_deliveries" }

// DeliveryAttempt is one try of a delivery: what the receiver answered, or
// why nothing was answered.
type DeliveryAttempt struct {
	ID              string    `json:"-" gorm:"primaryKey"`
	DeliveryID      string    `json:"-"`
	TenantID        string    `json:"-"`
	Attempt         int       `json:"attempt"`
	AttemptedAt     time.Time `json:"attemptedAt"`
	StatusCode      *int      `json:"statusCode,omitempty"`
	DurationMS      int       `json:"durationMs" gorm:"column:duration_ms"`
	Error           *string   `json:"error,omitempty"`
	ResponseExcerpt *string   `json:"responseExcerpt,omitempty"`
}

// TableName is the attempts' table.
func (DeliveryAttempt) TableName() string { return "event_delivery_attempts" }

package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// me tells callers who the API takes them for: their identity, roles and
// tenants, as their token says.
func (s *Server) me(c *gin.Context) error {
	p := principal(c)
	c.JSON(http.StatusOK, gin.H{
		"sub": p.Subject, "name": p.Name, "email": p.Email, "groups": nonNil(p.Groups), "roles": nonNil(p.Roles),
		"tenants": p.Tenants(),
	})
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

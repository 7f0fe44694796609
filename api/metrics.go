package api

import "github.com/gin-gonic/gin"

// registerMetrics serves GET /metrics (Prometheus text format) without
// authentication. It is registered before the middleware on purpose: scrapes
// are neither traced, access-logged nor counted in the HTTP request metrics
// (promhttp counts them in promhttp_metric_handler_requests_total). The
// figures carry no tenant or customer data; restrict the path at the ingress
// if the API is public and the numbers should not be.
func (s *Server) registerMetrics(r *gin.Engine) {
	if s.d.Metrics == nil {
		return
	}
	r.GET("/metrics", gin.WrapH(s.d.Metrics))
}

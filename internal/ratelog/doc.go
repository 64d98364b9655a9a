// Package ratelog turns floods of one kind of log event into few lines:
// Limiter logs an event at most once per interval and counts the rest;
// Outage logs when failures of an operation start, while they go on and
// when they end. Whatever the rate of events, the lines cost a constant
// amount; the events themselves are counted in metrics by the caller.
package ratelog

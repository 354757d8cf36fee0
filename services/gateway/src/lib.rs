//! OCPP-J gateway: chargers connect over WebSockets; their messages become durable charger events on NATS.

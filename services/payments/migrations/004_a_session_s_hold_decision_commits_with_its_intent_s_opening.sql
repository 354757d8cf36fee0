-- A session is decided for a hold in the transaction that opens its intent (one commit, not two). A
-- session already decided to pay later (priced before its start was seen) refuses the opening.
CREATE FUNCTION {schema}.decide_session_hold() RETURNS trigger AS $$
DECLARE
    session uuid := (NEW.payload->'IntentOpened'->'context'->>'session_id')::uuid;
    decided text;
BEGIN
    IF session IS NULL THEN
        RETURN NEW;
    END IF;
    INSERT INTO {schema}.session_decisions (session_id, decision) VALUES (session, 'hold')
        ON CONFLICT (session_id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT decision INTO decided FROM {schema}.session_decisions WHERE session_id = session;
        IF decided <> 'hold' THEN
            RAISE EXCEPTION 'session % is settled by invoice', session;
        END IF;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_session_decision AFTER INSERT ON {schema}.events
    FOR EACH ROW WHEN (NEW.aggregate_type = 'PaymentIntent' AND NEW.event_type = 'IntentOpened')
    EXECUTE FUNCTION {schema}.decide_session_hold();

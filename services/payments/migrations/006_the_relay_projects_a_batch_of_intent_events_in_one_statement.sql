-- The `intents` read table and its history lines, projected by the relay from a batch of intent
-- events in ONE statement (`outbox::PaymentsOutbox`): a JSON array of events in commit order, each
-- with the history line (`id`, `at`, `sequence`, `type`, `amount`, `detail`) and the values its
-- change of the row needs. The relay runs this for every event, so a round trip saved here is saved
-- on every event (it was one statement per event; two before that).
CREATE FUNCTION {schema}.project_intent_events(batch jsonb) RETURNS void AS $$
DECLARE
    e jsonb;
    v_id uuid;
    v_at timestamptz;
BEGIN
    FOR e IN SELECT value FROM jsonb_array_elements(batch) LOOP
        v_id := (e->>'id')::uuid;
        v_at := (e->>'at')::timestamptz;
        CASE e->>'type'
        WHEN 'IntentOpened' THEN
            INSERT INTO {schema}.intents (id, tenant_id, session_id, order_id, account_id, provider,
                kind, purpose, payment_method_id, status, currency, pending_op, created_at, updated_at)
            VALUES (v_id, e->>'tenant_id', (e->>'session_id')::uuid, e->>'order_id',
                (e->>'account_id')::uuid, e->>'provider', e->>'kind', e->>'purpose',
                (e->>'method_id')::uuid, 'pending', e->>'currency', 'authorize', v_at, v_at)
            ON CONFLICT (id) DO NOTHING;
        WHEN 'AuthorizationRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'authorize', updated_at = v_at WHERE id = v_id;
        WHEN 'PaymentAuthorized' THEN
            UPDATE {schema}.intents SET status = 'authorized',
                amount_authorized = amount_authorized + (e->>'value')::numeric, pending_op = NULL,
                failure_code = '', failure_message = '', updated_at = v_at
            WHERE id = v_id;
        WHEN 'PaymentFailed' THEN
            UPDATE {schema}.intents SET status = 'failed', pending_op = NULL,
                failure_code = e->>'code', failure_message = e->>'message', updated_at = v_at
            WHERE id = v_id;
        WHEN 'ExtensionRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'extend', updated_at = v_at WHERE id = v_id;
        WHEN 'HoldExtended' THEN
            UPDATE {schema}.intents SET amount_authorized = (e->>'value')::numeric, pending_op = NULL,
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'HoldExhausted' THEN
            UPDATE {schema}.intents SET pending_op = NULL, failure_code = e->>'code',
                failure_message = e->>'message', updated_at = v_at
            WHERE id = v_id;
        WHEN 'CaptureRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'capture', next_capture_at = NULL, updated_at = v_at
            WHERE id = v_id;
        WHEN 'PaymentCaptured' THEN
            UPDATE {schema}.intents SET status = 'captured', amount_captured = (e->>'value')::numeric,
                pending_op = NULL, next_capture_at = NULL, failure_code = '', failure_message = '',
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'CaptureFailed' THEN
            UPDATE {schema}.intents SET pending_op = NULL, next_capture_at = (e->>'next_at')::timestamptz,
                failure_code = e->>'code', failure_message = e->>'message', updated_at = v_at
            WHERE id = v_id;
        WHEN 'DunningStarted' THEN
            UPDATE {schema}.intents SET status = 'dunning', pending_op = NULL, next_capture_at = NULL,
                failure_code = e->>'code', failure_message = 'capture failed; collected by dunning',
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'VoidRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'void', updated_at = v_at WHERE id = v_id;
        WHEN 'PaymentVoided' THEN
            -- A hold released after dunning keeps the dunning status.
            UPDATE {schema}.intents SET pending_op = NULL, updated_at = v_at,
                status = CASE WHEN (e->>'keep_status')::boolean THEN status ELSE 'voided' END
            WHERE id = v_id;
        WHEN 'RefundRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'refund', updated_at = v_at WHERE id = v_id;
        WHEN 'PaymentRefunded' THEN
            UPDATE {schema}.intents SET amount_refunded = (e->>'value')::numeric, pending_op = NULL,
                status = CASE WHEN (e->>'value')::numeric >= amount_captured
                              THEN 'refunded' ELSE 'partially_refunded' END,
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'RefundFailed' THEN
            UPDATE {schema}.intents SET pending_op = NULL, updated_at = v_at WHERE id = v_id;
        ELSE
            -- Only in the history (ChargeStopRequested): the status and amounts do not change.
            NULL;
        END CASE;
        INSERT INTO {schema}.intent_events (intent_id, sequence, type, amount, detail, occurred_at)
        VALUES (v_id, (e->>'sequence')::bigint, e->>'type', (e->>'amount')::numeric, e->>'detail', v_at)
        ON CONFLICT DO NOTHING;
    END LOOP;
END
$$ LANGUAGE plpgsql;

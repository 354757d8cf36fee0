-- The sandbox provider's book-keeping (`provider::sandbox`): one call is one statement, as one call
-- to a remote provider is one request. `sandbox_call` runs an operation once per idempotency key and
-- returns its answer (`{"ok": ...}` or `{"err": {kind, code, message}}`), the first answer again for
-- a key it has seen. A card's behaviour is decided by the Rust side and recorded on its hold.
ALTER TABLE {schema}.sandbox_holds
    ADD COLUMN incremental   boolean NOT NULL DEFAULT true,
    ADD COLUMN capture_fails boolean NOT NULL DEFAULT false;

CREATE FUNCTION {schema}.sandbox_err(kind text, code text, message text) RETURNS jsonb AS $$
    SELECT jsonb_build_object('err', jsonb_build_object('kind', kind, 'code', code, 'message', message))
$$ LANGUAGE sql IMMUTABLE;

-- What a customer holds on a card now, under the card's lock (held until the call commits).
CREATE FUNCTION {schema}.sandbox_held(who text, card text) RETURNS numeric AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('sandbox-card/' || who || '/' || card));
    RETURN coalesce((SELECT sum(amount) FROM {schema}.sandbox_holds
                     WHERE customer = who AND token = card AND status = 'authorized'), 0);
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION {schema}.sandbox_run(operation text, args jsonb) RETURNS jsonb AS $$
DECLARE
    v_amount numeric := (args->>'amount')::numeric;
    v_limit numeric := (args->>'limit')::numeric;
    h {schema}.sandbox_holds%ROWTYPE;
BEGIN
    IF operation = 'authorize' THEN
        IF args->>'decline_code' IS NOT NULL THEN
            RETURN {schema}.sandbox_err('declined', args->>'decline_code', args->>'decline_message');
        END IF;
        IF {schema}.sandbox_held(args->>'customer', args->>'token') + v_amount > v_limit THEN
            RETURN {schema}.sandbox_err('declined', 'insufficient_funds', 'Your card has insufficient funds.');
        END IF;
        INSERT INTO {schema}.sandbox_holds
            (reference, token, customer, currency, amount, captured, refunded, status, incremental, capture_fails)
        VALUES (args->>'reference', args->>'token', args->>'customer', args->>'currency', v_amount, 0, 0,
                'authorized', (args->>'incremental')::boolean, (args->>'capture_fails')::boolean);
        RETURN jsonb_build_object('ok', jsonb_build_object(
            'reference', args->>'reference', 'amount', v_amount::text,
            'incremental', (args->>'incremental')::boolean));
    END IF;

    SELECT * INTO h FROM {schema}.sandbox_holds WHERE reference = args->>'reference' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN {schema}.sandbox_err('invalid', 'resource_missing', 'no hold ' || (args->>'reference'));
    END IF;
    CASE operation
    WHEN 'increment' THEN
        IF NOT h.incremental THEN
            RETURN {schema}.sandbox_err('unsupported', 'not_supported',
                'this card does not support incremental authorisation');
        END IF;
        IF h.status <> 'authorized' OR h.currency <> args->>'currency' THEN
            RETURN {schema}.sandbox_err('invalid', 'payment_intent_unexpected_state', 'the hold is ' || h.status);
        END IF;
        IF {schema}.sandbox_held(h.customer, h.token) - h.amount + v_amount > v_limit THEN
            RETURN {schema}.sandbox_err('declined', 'insufficient_funds', 'Your card has insufficient funds.');
        END IF;
        UPDATE {schema}.sandbox_holds SET amount = v_amount WHERE reference = h.reference;
        RETURN jsonb_build_object('ok', jsonb_build_object('amount', v_amount::text));
    WHEN 'capture' THEN
        IF h.capture_fails THEN
            RETURN {schema}.sandbox_err('declined', 'processing_error',
                'An error occurred while processing the capture.');
        END IF;
        -- Capturing a captured hold again with the same amount is answered as done, like a provider
        -- that keys captures on the hold.
        IF h.status = 'captured' AND h.captured = v_amount THEN
            RETURN jsonb_build_object('ok', jsonb_build_object('captured', h.captured::text));
        END IF;
        IF h.status <> 'authorized' THEN
            RETURN {schema}.sandbox_err('invalid', 'payment_intent_unexpected_state', 'the hold is ' || h.status);
        END IF;
        IF v_amount > h.amount THEN
            RETURN {schema}.sandbox_err('invalid', 'amount_too_large',
                v_amount::text || ' is more than the ' || h.amount::text || ' held');
        END IF;
        UPDATE {schema}.sandbox_holds SET captured = v_amount, status = 'captured' WHERE reference = h.reference;
        RETURN jsonb_build_object('ok', jsonb_build_object('captured', v_amount::text));
    WHEN 'cancel' THEN
        IF h.status = 'authorized' THEN
            UPDATE {schema}.sandbox_holds SET status = 'canceled' WHERE reference = h.reference;
        END IF;
        RETURN jsonb_build_object('ok', jsonb_build_object('status', 'canceled'));
    WHEN 'refund' THEN
        IF h.status <> 'captured' OR h.refunded + v_amount > h.captured THEN
            RETURN {schema}.sandbox_err('invalid', 'charge_already_refunded',
                v_amount::text || ' is more than the ' || (h.captured - h.refunded)::text || ' left to refund');
        END IF;
        UPDATE {schema}.sandbox_holds SET refunded = refunded + v_amount WHERE reference = h.reference;
        RETURN jsonb_build_object('ok', jsonb_build_object('refund', args->>'refund'));
    ELSE
        RAISE EXCEPTION 'unknown sandbox operation %', operation;
    END CASE;
END
$$ LANGUAGE plpgsql;

-- The books stand for a remote provider: they must survive Joule's process dying (the call commits
-- before it returns), not a PostgreSQL crash, so a call does not wait for the WAL flush.
CREATE FUNCTION {schema}.sandbox_call(call_key text, operation text, args jsonb) RETURNS jsonb AS $$
DECLARE
    answer jsonb;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtext('sandbox/' || call_key));
    SELECT c.answer INTO answer FROM {schema}.sandbox_calls c WHERE c.idempotency_key = call_key;
    IF FOUND THEN
        RETURN answer;
    END IF;
    answer := {schema}.sandbox_run(operation, args);
    INSERT INTO {schema}.sandbox_calls (idempotency_key, operation, answer) VALUES (call_key, operation, answer);
    RETURN answer;
END
$$ LANGUAGE plpgsql;

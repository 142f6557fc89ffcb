--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: caforge_audit_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.caforge_audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END;
$$;


--
-- Name: caforge_notify_write(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.caforge_notify_write() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('caforge_writes', '');
    RETURN NULL;
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_tokens (
    id bigint NOT NULL,
    name text NOT NULL,
    token_hash text NOT NULL,
    cas text NOT NULL,
    profiles text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    revoked_at bigint,
    quota_count bigint,
    quota_window bigint
);


--
-- Name: api_tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.api_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: api_tokens_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.api_tokens_id_seq OWNED BY public.api_tokens.id;


--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    seq bigint NOT NULL,
    at bigint NOT NULL,
    action text NOT NULL,
    ca text,
    serial text,
    details text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);


--
-- Name: blocked_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.blocked_keys (
    spki_sha256 text NOT NULL,
    serial text NOT NULL,
    ca_id bigint NOT NULL,
    blocked_at bigint NOT NULL
);


--
-- Name: caforge_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.caforge_migrations (
    version bigint NOT NULL,
    applied_at bigint NOT NULL
);


--
-- Name: cas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cas (
    id bigint NOT NULL,
    name text NOT NULL,
    parent_id bigint,
    key_type text NOT NULL,
    key_ref text NOT NULL,
    sm2_id text NOT NULL,
    key_id text NOT NULL,
    subject text NOT NULL,
    serial text NOT NULL,
    not_before bigint NOT NULL,
    not_after bigint NOT NULL,
    path_len bigint,
    name_constraints text DEFAULT '{"permitted_dns":[],"excluded_dns":[]}'::text NOT NULL,
    cert_der bytea NOT NULL,
    created_at bigint NOT NULL,
    base_url text,
    crl_lifetime bigint DEFAULT 604800 NOT NULL,
    delta_lifetime bigint DEFAULT 86400 NOT NULL,
    crl_partitions bigint DEFAULT 1 NOT NULL,
    ocsp_signer text DEFAULT 'ca'::text NOT NULL,
    ocsp_lifetime bigint DEFAULT 86400 NOT NULL,
    generation bigint DEFAULT 1 NOT NULL,
    predecessor_ca_id bigint,
    CONSTRAINT cas_ocsp_signer_check CHECK ((ocsp_signer = ANY (ARRAY['ca'::text, 'delegated'::text])))
);


--
-- Name: cas_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.cas_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: cas_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.cas_id_seq OWNED BY public.cas.id;


--
-- Name: certificate_pairs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.certificate_pairs (
    id bigint NOT NULL,
    mode text NOT NULL,
    first_id bigint NOT NULL,
    second_id bigint NOT NULL,
    created_at bigint NOT NULL,
    CONSTRAINT certificate_pairs_mode_check CHECK ((mode = ANY (ARRAY['rsa-sm2'::text, 'sm2-sign-enc'::text])))
);


--
-- Name: certificate_pairs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.certificate_pairs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: certificate_pairs_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.certificate_pairs_id_seq OWNED BY public.certificate_pairs.id;


--
-- Name: certificate_successions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.certificate_successions (
    successor_id bigint NOT NULL,
    predecessor_id bigint NOT NULL,
    kind text NOT NULL,
    created_at bigint NOT NULL,
    CONSTRAINT certificate_successions_kind_check CHECK ((kind = ANY (ARRAY['renew'::text, 'rekey'::text, 'reissue'::text])))
);


--
-- Name: certificates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.certificates (
    id bigint NOT NULL,
    issuer_ca_id bigint NOT NULL,
    serial text NOT NULL,
    subject text NOT NULL,
    sans text NOT NULL,
    profile text NOT NULL,
    key_type text NOT NULL,
    not_before bigint NOT NULL,
    not_after bigint NOT NULL,
    status text DEFAULT 'valid'::text NOT NULL,
    fingerprint text NOT NULL,
    der bytea NOT NULL,
    created_at bigint NOT NULL,
    crl_partition bigint,
    crl_url text,
    spki_sha256 text,
    revoked_at bigint,
    revocation_reason bigint,
    invalidity_date bigint,
    hold_released_at bigint,
    revocation_seq bigint
);


--
-- Name: certificates_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.certificates_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: certificates_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.certificates_id_seq OWNED BY public.certificates.id;


--
-- Name: crl_numbers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.crl_numbers (
    ca_id bigint NOT NULL,
    last bigint NOT NULL
);


--
-- Name: crl_parts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.crl_parts (
    crl_id bigint NOT NULL,
    part bigint NOT NULL,
    bytes bytea NOT NULL
);


--
-- Name: crls; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.crls (
    id bigint NOT NULL,
    ca_id bigint NOT NULL,
    number bigint NOT NULL,
    partition bigint,
    base_number bigint,
    revocation_seq bigint NOT NULL,
    this_update bigint NOT NULL,
    next_update bigint NOT NULL,
    entries bigint NOT NULL,
    der bytea NOT NULL,
    parts bigint DEFAULT 0 NOT NULL
);


--
-- Name: crls_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.crls_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: crls_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.crls_id_seq OWNED BY public.crls.id;


--
-- Name: cross_certificates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cross_certificates (
    certificate_id bigint NOT NULL,
    subject_ca_id bigint NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: inventory; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.inventory (
    id bigint NOT NULL,
    fingerprint text NOT NULL,
    subject text NOT NULL,
    issuer text NOT NULL,
    serial text NOT NULL,
    sans text NOT NULL,
    key_type text NOT NULL,
    not_before bigint NOT NULL,
    not_after bigint NOT NULL,
    issuer_ca_id bigint,
    issuer_inventory_id bigint,
    source text NOT NULL,
    der bytea NOT NULL,
    imported_at bigint NOT NULL
);


--
-- Name: inventory_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.inventory_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: inventory_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.inventory_id_seq OWNED BY public.inventory.id;


--
-- Name: kmc_escrow; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.kmc_escrow (
    certificate_id bigint NOT NULL,
    sealed bytea NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: managed_certificates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.managed_certificates (
    id bigint NOT NULL,
    certificate_id bigint NOT NULL,
    key_type text NOT NULL,
    sealed_key bytea NOT NULL,
    deploy_dir text NOT NULL,
    deploy_hook text,
    state text NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    next_attempt_at bigint NOT NULL,
    last_error text,
    updated_at bigint NOT NULL,
    created_at bigint NOT NULL,
    CONSTRAINT managed_certificates_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'deployed'::text, 'failed'::text])))
);


--
-- Name: managed_certificates_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.managed_certificates_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: managed_certificates_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.managed_certificates_id_seq OWNED BY public.managed_certificates.id;


--
-- Name: notifications; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notifications (
    id bigint NOT NULL,
    target text NOT NULL,
    threshold_days bigint NOT NULL,
    webhook text NOT NULL,
    state text NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    next_attempt_at bigint NOT NULL,
    last_error text,
    payload text NOT NULL,
    created_at bigint NOT NULL,
    delivered_at bigint,
    CONSTRAINT notifications_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'delivered'::text, 'failed'::text])))
);


--
-- Name: notifications_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notifications_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: notifications_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notifications_id_seq OWNED BY public.notifications.id;


--
-- Name: ocsp_responders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ocsp_responders (
    id bigint NOT NULL,
    ca_id bigint NOT NULL,
    certificate_id bigint NOT NULL,
    key_ref text NOT NULL,
    not_after bigint NOT NULL,
    created_at bigint NOT NULL
);


--
-- Name: ocsp_responders_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ocsp_responders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: ocsp_responders_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ocsp_responders_id_seq OWNED BY public.ocsp_responders.id;


--
-- Name: ocsp_responses; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ocsp_responses (
    ca_id bigint NOT NULL,
    serial text NOT NULL,
    hash_alg text NOT NULL,
    produced_at bigint NOT NULL,
    next_update bigint NOT NULL,
    der bytea NOT NULL
);


--
-- Name: scheduled_revocations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.scheduled_revocations (
    certificate_id bigint NOT NULL,
    reason bigint NOT NULL,
    due_at bigint NOT NULL,
    requested_at bigint NOT NULL
);


--
-- Name: serials; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.serials (
    issuer_key_id text NOT NULL,
    serial text NOT NULL,
    state text NOT NULL,
    reserved_at bigint NOT NULL,
    CONSTRAINT serials_state_check CHECK ((state = ANY (ARRAY['reserved'::text, 'used'::text])))
);


--
-- Name: token_issuances; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.token_issuances (
    id bigint NOT NULL,
    token_id bigint NOT NULL,
    certificate_id bigint,
    reserved_at bigint NOT NULL
);


--
-- Name: token_issuances_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.token_issuances_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: token_issuances_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.token_issuances_id_seq OWNED BY public.token_issuances.id;


--
-- Name: api_tokens id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens ALTER COLUMN id SET DEFAULT nextval('public.api_tokens_id_seq'::regclass);


--
-- Name: cas id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cas ALTER COLUMN id SET DEFAULT nextval('public.cas_id_seq'::regclass);


--
-- Name: certificate_pairs id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_pairs ALTER COLUMN id SET DEFAULT nextval('public.certificate_pairs_id_seq'::regclass);


--
-- Name: certificates id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates ALTER COLUMN id SET DEFAULT nextval('public.certificates_id_seq'::regclass);


--
-- Name: crls id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crls ALTER COLUMN id SET DEFAULT nextval('public.crls_id_seq'::regclass);


--
-- Name: inventory id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory ALTER COLUMN id SET DEFAULT nextval('public.inventory_id_seq'::regclass);


--
-- Name: managed_certificates id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.managed_certificates ALTER COLUMN id SET DEFAULT nextval('public.managed_certificates_id_seq'::regclass);


--
-- Name: notifications id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications ALTER COLUMN id SET DEFAULT nextval('public.notifications_id_seq'::regclass);


--
-- Name: ocsp_responders id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocsp_responders ALTER COLUMN id SET DEFAULT nextval('public.ocsp_responders_id_seq'::regclass);


--
-- Name: token_issuances id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token_issuances ALTER COLUMN id SET DEFAULT nextval('public.token_issuances_id_seq'::regclass);


--
-- Data for Name: api_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.api_tokens VALUES (1, 'fixture', 'bf95f4692116a32f46fee962a531c801d0c80679b95ca33a6e2311b28a9368d6', '["issuing"]', '["tls-server"]', 1796417773, NULL, NULL, NULL, NULL);


--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit VALUES (1, 1796417770, 'ca.signing', 'root', '510F084E90EF4E5A1983B94401E76C04', '{"key_type":"p256","parent":null}', '0000000000000000000000000000000000000000000000000000000000000000', 'a8156d97d95a23889fc72b35725606ebe7e87fc405cabb5a57d83161818f03e2');
INSERT INTO public.audit VALUES (2, 1796417770, 'ca.created', 'root', '510F084E90EF4E5A1983B94401E76C04', '{"fingerprint":"51817b940ff0b09f023afd1f85d79541d820df721e86647cabc315b566031bc3","key_type":"p256","parent":null}', 'a8156d97d95a23889fc72b35725606ebe7e87fc405cabb5a57d83161818f03e2', 'b44e4303f8fe259f8edba0636465c1b831456a6f297a23007bbf50a77dc09227');
INSERT INTO public.audit VALUES (3, 1796417770, 'ca.signing', 'issuing', '733613B9CE95E819F0FD4EA1FE82B94D', '{"key_type":"sm2","parent":"root"}', 'b44e4303f8fe259f8edba0636465c1b831456a6f297a23007bbf50a77dc09227', 'aa4913fdd7180276cea9e1427de811a4a0a3fc9c2ec30cb27c81a99b5c41982a');
INSERT INTO public.audit VALUES (4, 1796417770, 'ca.created', 'issuing', '733613B9CE95E819F0FD4EA1FE82B94D', '{"fingerprint":"1e15330f6a48586ef9dad8757301cc7a1b626a58b67179386535d2aec0c4f813","key_type":"sm2","parent":"root"}', 'aa4913fdd7180276cea9e1427de811a4a0a3fc9c2ec30cb27c81a99b5c41982a', '10b7a6383ec2a8427ce613dac38a1f8f34bb029fbf8dede2586009e6306b7a64');
INSERT INTO public.audit VALUES (5, 1796417771, 'ca.signing', 'rsa-issuing', '426A4C8B5EEC05680C749F799AE0063E', '{"key_type":"rsa2048","parent":"root"}', '10b7a6383ec2a8427ce613dac38a1f8f34bb029fbf8dede2586009e6306b7a64', '957cc72e53e1a848dfbd707c811f1f380a6777970526534df0831beecefe5490');
INSERT INTO public.audit VALUES (6, 1796417771, 'ca.created', 'rsa-issuing', '426A4C8B5EEC05680C749F799AE0063E', '{"fingerprint":"1aae4e338d6fb50e702bc7b7457aec19f22ece0524384232ae8ae09958837f96","key_type":"rsa2048","parent":"root"}', '957cc72e53e1a848dfbd707c811f1f380a6777970526534df0831beecefe5490', 'e0da678fb59d951daff61625f7135a1591714c34579efb26ff2e5cc772f1a038');
INSERT INTO public.audit VALUES (7, 1796417771, 'ca.configured', 'issuing', NULL, '{"base_url":"http://127.0.0.1:18080","crl_lifetime":604800,"crl_partitions":1,"delta_lifetime":86400,"ocsp_lifetime":86400,"ocsp_signer":"delegated"}', 'e0da678fb59d951daff61625f7135a1591714c34579efb26ff2e5cc772f1a038', 'e1bcd62577357f53dfcb06ba6b40850fb200e421be7e9d18d8b368a0ccdf25e5');
INSERT INTO public.audit VALUES (8, 1796417771, 'cert.signing', 'issuing', '62379AD3AF073FC8D47D1F5D97E24BC2', '{"profile":"tls-server","subject":"CN=www.fixture.example"}', 'e1bcd62577357f53dfcb06ba6b40850fb200e421be7e9d18d8b368a0ccdf25e5', '4c2a1a4139e4e6537d2fbee9721bd0945f6aee19b8876359225f6d7e3ff667df');
INSERT INTO public.audit VALUES (9, 1796417771, 'cert.signed', 'issuing', '62379AD3AF073FC8D47D1F5D97E24BC2', '{"clipped":false,"fingerprint":"3ac8cc743b8bd173e17482b74d4e43394b2b0682a93822d1a3a42e9eddd60acf","profile":"tls-server","sans":["dns:www.fixture.example"],"subject":"CN=www.fixture.example"}', '4c2a1a4139e4e6537d2fbee9721bd0945f6aee19b8876359225f6d7e3ff667df', 'a7a36d8a8cef268c6a656a9dd43fdf1a5271058af7ed57d7ffb96ebe377795e7');
INSERT INTO public.audit VALUES (10, 1796417771, 'cert.signing', 'issuing', '4C7414E52B60DF1C1539171932E2945C', '{"profile":"tls-server","subject":"CN=old.fixture.example"}', 'a7a36d8a8cef268c6a656a9dd43fdf1a5271058af7ed57d7ffb96ebe377795e7', '4b3ace0f2b8a52c77695dcfe2737fc7b03f6aad63c217bdc6153c1063ed14aa3');
INSERT INTO public.audit VALUES (11, 1796417771, 'cert.signed', 'issuing', '4C7414E52B60DF1C1539171932E2945C', '{"clipped":false,"fingerprint":"20bf821652b70225570ae468f2753721e2d30cf0985914256f18bb39fe40b569","profile":"tls-server","sans":["dns:old.fixture.example"],"subject":"CN=old.fixture.example"}', '4b3ace0f2b8a52c77695dcfe2737fc7b03f6aad63c217bdc6153c1063ed14aa3', 'db626ecda99aae24a7ca629a88c0fb6c45c00711a2ed10001d9e72125ec0b55b');
INSERT INTO public.audit VALUES (12, 1796417772, 'cert.signing', 'issuing', '78F8DFE5E863DA3745FA7B258CFFF6ED', '{"profile":"tls-server","subject":"CN=hold.fixture.example"}', 'db626ecda99aae24a7ca629a88c0fb6c45c00711a2ed10001d9e72125ec0b55b', '5152e5fa3dc32c0a19d26d6dfa4ccc5367d2cd1f8adeaae53ee0c33bda04e977');
INSERT INTO public.audit VALUES (13, 1796417772, 'cert.signed', 'issuing', '78F8DFE5E863DA3745FA7B258CFFF6ED', '{"clipped":false,"fingerprint":"318e13110f4e4f2702cfb0a5ec2d3d964994b53a3abbfe3f6436acba8241911b","profile":"tls-server","sans":["dns:hold.fixture.example"],"subject":"CN=hold.fixture.example"}', '5152e5fa3dc32c0a19d26d6dfa4ccc5367d2cd1f8adeaae53ee0c33bda04e977', '944bd68767135c17dcd8192a82d5f479c09d09eb4359827de0a41f018e9e7c6f');
INSERT INTO public.audit VALUES (14, 1796417772, 'cert.signing', 'rsa-issuing', '4AC565B24B0E938F06DABAFFE3876679', '{"profile":"tls-server","subject":"CN=api.fixture.example"}', '944bd68767135c17dcd8192a82d5f479c09d09eb4359827de0a41f018e9e7c6f', '1d403660a8c685127e46723fe057d7a241a2529d2b24d6e741dc4833d511ec16');
INSERT INTO public.audit VALUES (15, 1796417772, 'cert.signed', 'rsa-issuing', '4AC565B24B0E938F06DABAFFE3876679', '{"clipped":false,"fingerprint":"427690fb265d228aa4e7f7f12bd535171615ca867b9440ba2b8077216302c653","profile":"tls-server","sans":["dns:api.fixture.example"],"subject":"CN=api.fixture.example"}', '1d403660a8c685127e46723fe057d7a241a2529d2b24d6e741dc4833d511ec16', '46ee3125d67d211862e84b8ecc6bbf124790e87ed5a8b5f2f0620113c87008ff');
INSERT INTO public.audit VALUES (16, 1796417772, 'cert.revoked', 'issuing', '4C7414E52B60DF1C1539171932E2945C', '{"invalidity_date":null,"key_blocked":true,"reason":"keyCompromise","was":null}', '46ee3125d67d211862e84b8ecc6bbf124790e87ed5a8b5f2f0620113c87008ff', 'edae8dcf2d79200883f000cb938700d41342335ccd848adc12844f50bda46f41');
INSERT INTO public.audit VALUES (17, 1796417772, 'cert.revoked', 'issuing', '78F8DFE5E863DA3745FA7B258CFFF6ED', '{"invalidity_date":null,"key_blocked":false,"reason":"certificateHold","was":null}', 'edae8dcf2d79200883f000cb938700d41342335ccd848adc12844f50bda46f41', 'b6428f0170e40dbe8d6b8a4f2ba6ab109c82029b5910c1405618a2562106baac');
INSERT INTO public.audit VALUES (18, 1796417772, 'crl.signing', 'issuing', NULL, '{"delta":false,"number":1,"partition":null}', 'b6428f0170e40dbe8d6b8a4f2ba6ab109c82029b5910c1405618a2562106baac', '1667cb625f4766bc9f87a4fcc1788f518f402b60bc28992dead08813a99b1703');
INSERT INTO public.audit VALUES (19, 1796417772, 'crl.issued', 'issuing', NULL, '{"base":null,"entries":2,"fingerprint":"4f52bb5aa5e98dcb2585e91756db2cacfa8ce82cc732296f9db3cf07aadee073","number":1,"partition":null}', '1667cb625f4766bc9f87a4fcc1788f518f402b60bc28992dead08813a99b1703', 'd3d00041bc8e50a87c86a0a83e86e9952c1f2f987cc13928ce928afbe892506b');
INSERT INTO public.audit VALUES (20, 1796417772, 'cert.hold_released', 'issuing', '78F8DFE5E863DA3745FA7B258CFFF6ED', '{}', 'd3d00041bc8e50a87c86a0a83e86e9952c1f2f987cc13928ce928afbe892506b', '2026dbbd940dba940935fca4e5f4a45b193e11609f1ce7c46811e5ace8ffb621');
INSERT INTO public.audit VALUES (21, 1796417773, 'crl.signing', 'issuing', NULL, '{"delta":true,"number":2,"partition":null}', '2026dbbd940dba940935fca4e5f4a45b193e11609f1ce7c46811e5ace8ffb621', '7b0443535d3f42d539bc7dce9868638ee79a2f8d82c19408403eb3f14dc31feb');
INSERT INTO public.audit VALUES (22, 1796417773, 'crl.delta_issued', 'issuing', NULL, '{"base":1,"entries":1,"fingerprint":"a8d2f7a46e6700a8e5e8382665285a1614da2de4b40814f9513c23a02219ed63","number":2,"partition":null}', '7b0443535d3f42d539bc7dce9868638ee79a2f8d82c19408403eb3f14dc31feb', '2616b29a4de5094e9c1de02511adbd70b834aeb4a23fa9b768d9f0991f5439db');
INSERT INTO public.audit VALUES (23, 1796417773, 'token.created', NULL, NULL, '{"cas":["issuing"],"expires_at":null,"name":"fixture","profiles":["tls-server"],"quota":null}', '2616b29a4de5094e9c1de02511adbd70b834aeb4a23fa9b768d9f0991f5439db', '2de381fb705efdc56b9aa62db052fca64fd2e8c623a0dc64bdc351851c3af7d6');
INSERT INTO public.audit VALUES (24, 1796417773, 'inventory.imported', NULL, '6B326CD60D662E30E1285BF82E7D17524A51FB89', '{"fingerprint":"13c02d0ebf183d02a15367e6034cbd2001be88b1c4c87bfbd38fd8f207f75555","source":"ext.pem","subject":"CN=external.fixture.example"}', '2de381fb705efdc56b9aa62db052fca64fd2e8c623a0dc64bdc351851c3af7d6', '27277841cb34ef579687db78afc093b342fe0d19716d4d29a0256345c140f1b9');
INSERT INTO public.audit VALUES (25, 1796417773, 'cert.signing', 'rsa-issuing', '53C3FE7738D674161E4F866AA0EA9287', '{"profile":"tls-server","subject":"CN=api.fixture.example"}', '27277841cb34ef579687db78afc093b342fe0d19716d4d29a0256345c140f1b9', '8520ba63be23cc59909982c21bd2bd8fca94de57c0f9193605ea694b47d413a5');
INSERT INTO public.audit VALUES (26, 1796417773, 'cert.signed', 'rsa-issuing', '53C3FE7738D674161E4F866AA0EA9287', '{"clipped":false,"fingerprint":"83712e1ab06032ffce2c6848e485ae489c7ca017b0e7a342bbfaba52cb909aa9","predecessor":"4AC565B24B0E938F06DABAFFE3876679","profile":"tls-server","sans":["dns:api.fixture.example"],"subject":"CN=api.fixture.example","succession":"renew"}', '8520ba63be23cc59909982c21bd2bd8fca94de57c0f9193605ea694b47d413a5', '898db460141d991558bd7eec359271f626e3657df181502e2c501425844c049d');


--
-- Data for Name: blocked_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.blocked_keys VALUES ('15864906038d51c10470b448c7518b0e2adb2f95caf2ce1a96d67cc0bd11bd02', '4C7414E52B60DF1C1539171932E2945C', 2, 1796417772);


--
-- Data for Name: caforge_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.caforge_migrations VALUES (1, 1796417770);
INSERT INTO public.caforge_migrations VALUES (2, 1796417770);
INSERT INTO public.caforge_migrations VALUES (3, 1796417770);
INSERT INTO public.caforge_migrations VALUES (4, 1796417770);
INSERT INTO public.caforge_migrations VALUES (5, 1796417770);
INSERT INTO public.caforge_migrations VALUES (6, 1796417770);
INSERT INTO public.caforge_migrations VALUES (7, 1796417770);
INSERT INTO public.caforge_migrations VALUES (8, 1796417770);
INSERT INTO public.caforge_migrations VALUES (9, 1796417770);


--
-- Data for Name: cas; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.cas VALUES (1, 'root', NULL, 'p256', 'file:keys/root.key.pem', '1234567812345678', '2B102D5AF92571B242A779AA8504FE5B575A9F5C', 'CN=Fixture Root,O=caforge test', '510F084E90EF4E5A1983B94401E76C04', 1796417770, 2427569769, NULL, '{"permitted_dns":[],"excluded_dns":[]}', '\x3082019b30820142a0030201020210510f084e90ef4e5a1983b94401e76c04300a06082a8648ce3d040302302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f74301e170d3236313230343230353631305a170d3436313230343230353630395a302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f743059301306072a8648ce3d020106082a8648ce3d030107034200043b5044a1f0e7b3fc962ffba9e5896e95471d50d40c88c5eec17be33ae7edb612563000d11e10a9c2468742f279cb83897c10e03c166fe8b8df6489eb68d79e9aa3423040300f0603551d130101ff040530030101ff300e0603551d0f0101ff040403020186301d0603551d0e041604142b102d5af92571b242a779aa8504fe5b575a9f5c300a06082a8648ce3d04030203470030440220153f25e569731b0fb97adec29244193ea6d572fc682e625ad81878e44b3be7b7022027df8dfbe7cba2caca594ecea7b7f36f0e58e33fc2c2788ea9cce32e7dd151d8', 1796417770, NULL, 604800, 86400, 1, 'ca', 86400, 1, NULL);
INSERT INTO public.cas VALUES (3, 'rsa-issuing', 1, 'rsa2048', 'file:keys/rsa-issuing.key.pem', '1234567812345678', '493695EF2D144A526256B67C093F344F3B1AD491', 'CN=rsa-issuing', '426A4C8B5EEC05680C749F799AE0063E', 1796417770, 2111950569, 0, '{"permitted_dns":[],"excluded_dns":[]}', '\x3082027230820219a0030201020210426a4c8b5eec05680c749f799ae0063e300a06082a8648ce3d040302302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f74301e170d3236313230343230353631305a170d3336313230333230353630395a30163114301206035504030c0b7273612d69737375696e6730820122300d06092a864886f70d01010105000382010f003082010a0282010100e01caca879e11357a191c6934afd1ae9a55b950dfb7056efa220a47bb598b72fc68988615d07462afce922f4fb57078e183e78a72445cdccf06a0f73832c0f183e9f1a5b9b61f32c6c6c406152bbeb835bc106fb40068df6c5ee2c94e3179f285d8ddd08469685a750274815f99873b54ff90f8918130ccb38dc534b22d52b514b0da5ee52ca6eb36db778eabd077afafe81f68a6871f362fa9a0f15520e260410b3b5b73de9763a60088453446444514b7bf0134a6b9f989de5ff3426fbff021f54ec8dc132e75d7667601f1ad2c4d40a853e8a318faf595ab892f589ddcf011e47a723d124372adeab9f46eb22db434a48434513001b2f49b1935aae0906e10203010001a366306430120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020186301d0603551d0e04160414493695ef2d144a526256b67c093f344f3b1ad491301f0603551d230418301680142b102d5af92571b242a779aa8504fe5b575a9f5c300a06082a8648ce3d0403020347003044022062f02825bf26a60c19a83d0a4711b59be9c9492c0efefb4eb7280461b0908191022078cf5ccfc17727815183836daeeb5aff3d44ccd0fe00756318a15ca3c536de5d', 1796417771, NULL, 604800, 86400, 1, 'ca', 86400, 1, NULL);
INSERT INTO public.cas VALUES (2, 'issuing', 1, 'sm2', 'file:keys/issuing.key.pem', '1234567812345678', 'A07F40E322CD3A80AAC7C1D7CD99466088E34628', 'CN=issuing', '733613B9CE95E819F0FD4EA1FE82B94D', 1796417770, 2111950569, 0, '{"permitted_dns":["fixture.example"],"excluded_dns":[]}', '\x308201c93082016fa0030201020210733613b9ce95e819f0fd4ea1fe82b94d300a06082a8648ce3d040302302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f74301e170d3236313230343230353631305a170d3336313230333230353630395a30123110300e06035504030c0769737375696e673059301306072a8648ce3d020106082a811ccf5501822d034200045ab718f7c1e1badf8eb240e1935b20a8c4132abd86b16b20878fc1b2132d2615f088dab94d9e145b92c910f52c7bfdb70fda2bd308fc1c59b9c5b9f21ab7ff84a3818a30818730120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020186301d0603551d0e04160414a07f40e322cd3a80aac7c1d7cd99466088e34628301f0603551d230418301680142b102d5af92571b242a779aa8504fe5b575a9f5c30210603551d1e0101ff04173015a0133011820f666978747572652e6578616d706c65300a06082a8648ce3d040302034800304502203bc5b0b5bf3dfa08e4216c093c9412ddd4cd2050f40a7925a1809b22c2128d5802210098078e5f66cc27e2f12f91368adf419b2fac9f4fb728cf1f567e8b51eab26851', 1796417770, 'http://127.0.0.1:18080', 604800, 86400, 1, 'delegated', 86400, 1, NULL);


--
-- Data for Name: certificate_pairs; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: certificate_successions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.certificate_successions VALUES (8, 7, 'renew', 1796417773);


--
-- Data for Name: certificates; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.certificates VALUES (1, 1, '510F084E90EF4E5A1983B94401E76C04', 'CN=Fixture Root,O=caforge test', '[]', 'ca', 'p256', 1796417770, 2427569769, 'valid', '51817b940ff0b09f023afd1f85d79541d820df721e86647cabc315b566031bc3', '\x3082019b30820142a0030201020210510f084e90ef4e5a1983b94401e76c04300a06082a8648ce3d040302302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f74301e170d3236313230343230353631305a170d3436313230343230353630395a302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f743059301306072a8648ce3d020106082a8648ce3d030107034200043b5044a1f0e7b3fc962ffba9e5896e95471d50d40c88c5eec17be33ae7edb612563000d11e10a9c2468742f279cb83897c10e03c166fe8b8df6489eb68d79e9aa3423040300f0603551d130101ff040530030101ff300e0603551d0f0101ff040403020186301d0603551d0e041604142b102d5af92571b242a779aa8504fe5b575a9f5c300a06082a8648ce3d04030203470030440220153f25e569731b0fb97adec29244193ea6d572fc682e625ad81878e44b3be7b7022027df8dfbe7cba2caca594ecea7b7f36f0e58e33fc2c2788ea9cce32e7dd151d8', 1796417770, NULL, NULL, '9b6bc920f359b3eb0f5267811758b64358661672661afc5a5e992cacb08729f2', NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.certificates VALUES (2, 1, '733613B9CE95E819F0FD4EA1FE82B94D', 'CN=issuing', '[]', 'ca', 'sm2', 1796417770, 2111950569, 'valid', '1e15330f6a48586ef9dad8757301cc7a1b626a58b67179386535d2aec0c4f813', '\x308201c93082016fa0030201020210733613b9ce95e819f0fd4ea1fe82b94d300a06082a8648ce3d040302302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f74301e170d3236313230343230353631305a170d3336313230333230353630395a30123110300e06035504030c0769737375696e673059301306072a8648ce3d020106082a811ccf5501822d034200045ab718f7c1e1badf8eb240e1935b20a8c4132abd86b16b20878fc1b2132d2615f088dab94d9e145b92c910f52c7bfdb70fda2bd308fc1c59b9c5b9f21ab7ff84a3818a30818730120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020186301d0603551d0e04160414a07f40e322cd3a80aac7c1d7cd99466088e34628301f0603551d230418301680142b102d5af92571b242a779aa8504fe5b575a9f5c30210603551d1e0101ff04173015a0133011820f666978747572652e6578616d706c65300a06082a8648ce3d040302034800304502203bc5b0b5bf3dfa08e4216c093c9412ddd4cd2050f40a7925a1809b22c2128d5802210098078e5f66cc27e2f12f91368adf419b2fac9f4fb728cf1f567e8b51eab26851', 1796417770, NULL, NULL, '4ffe721a981e009995cee567b6d79935c9c0ea64d1b1b5fcc886e0b4dad87be6', NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.certificates VALUES (3, 1, '426A4C8B5EEC05680C749F799AE0063E', 'CN=rsa-issuing', '[]', 'ca', 'rsa2048', 1796417770, 2111950569, 'valid', '1aae4e338d6fb50e702bc7b7457aec19f22ece0524384232ae8ae09958837f96', '\x3082027230820219a0030201020210426a4c8b5eec05680c749f799ae0063e300a06082a8648ce3d040302302e31153013060355040a0c0c6361666f72676520746573743115301306035504030c0c4669787475726520526f6f74301e170d3236313230343230353631305a170d3336313230333230353630395a30163114301206035504030c0b7273612d69737375696e6730820122300d06092a864886f70d01010105000382010f003082010a0282010100e01caca879e11357a191c6934afd1ae9a55b950dfb7056efa220a47bb598b72fc68988615d07462afce922f4fb57078e183e78a72445cdccf06a0f73832c0f183e9f1a5b9b61f32c6c6c406152bbeb835bc106fb40068df6c5ee2c94e3179f285d8ddd08469685a750274815f99873b54ff90f8918130ccb38dc534b22d52b514b0da5ee52ca6eb36db778eabd077afafe81f68a6871f362fa9a0f15520e260410b3b5b73de9763a60088453446444514b7bf0134a6b9f989de5ff3426fbff021f54ec8dc132e75d7667601f1ad2c4d40a853e8a318faf595ab892f589ddcf011e47a723d124372adeab9f46eb22db434a48434513001b2f49b1935aae0906e10203010001a366306430120603551d130101ff040830060101ff020100300e0603551d0f0101ff040403020186301d0603551d0e04160414493695ef2d144a526256b67c093f344f3b1ad491301f0603551d230418301680142b102d5af92571b242a779aa8504fe5b575a9f5c300a06082a8648ce3d0403020347003044022062f02825bf26a60c19a83d0a4711b59be9c9492c0efefb4eb7280461b0908191022078cf5ccfc17727815183836daeeb5aff3d44ccd0fe00756318a15ca3c536de5d', 1796417771, NULL, NULL, 'd43a36fc0d644bdc30dbd13e9d0a1ede05fc548e1e45b778196151bbb975029e', NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.certificates VALUES (4, 2, '62379AD3AF073FC8D47D1F5D97E24BC2', 'CN=www.fixture.example', '[{"type":"dns","value":"www.fixture.example"}]', 'tls-server', 'p256', 1796417771, 1804193770, 'valid', '3ac8cc743b8bd173e17482b74d4e43394b2b0682a93822d1a3a42e9eddd60acf', '\x3082026c30820212a003020102021062379ad3af073fc8d47d1f5d97e24bc2300a06082a811ccf5501837530123110300e06035504030c0769737375696e67301e170d3236313230343230353631315a170d3237303330343230353631305a301e311c301a06035504030c137777772e666978747572652e6578616d706c653059301306072a8648ce3d020106082a8648ce3d0301070342000492eea43c204fde150574fb18e2449e0982bab43a01519b12004a382b1af6331ea0642cc748c3ea58d0d9ae7641b14e1aab10efea3dec05bbfa02ab16c66ce7e5a382013c30820138300c0603551d130101ff04023000300e0603551d0f0101ff04040302078030130603551d25040c300a06082b06010505070301301d0603551d0e0416041424c299266491b21d74c9f4bd8460bc9bbac9bca0301f0603551d23041830168014a07f40e322cd3a80aac7c1d7cd99466088e34628301e0603551d110417301582137777772e666978747572652e6578616d706c6530370603551d1f0430302e302ca02aa0288626687474703a2f2f3132372e302e302e313a31383038302f63726c2f69737375696e672e63726c306a06082b06010505070101045e305c302706082b06010505073001861b687474703a2f2f3132372e302e302e313a31383038302f6f637370303106082b060105050730028625687474703a2f2f3132372e302e302e313a31383038302f63612f69737375696e672e637274300a06082a811ccf550183750348003045022100ba4bbe69078ece941727c5ce671928f22bd21367a95fcdf0011017520dc65f0a02206db7306ff92cb5697c4976ca1ea52fa662290d43f4ff93c6fb597c15e5558e90', 1796417771, NULL, 'http://127.0.0.1:18080/crl/issuing.crl', '03b821fc0268f8b6c1f4219dcb2fb2f4e068d3f3a0c551eddf4faee855265ca5', NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.certificates VALUES (7, 3, '4AC565B24B0E938F06DABAFFE3876679', 'CN=api.fixture.example', '[{"type":"dns","value":"api.fixture.example"}]', 'tls-server', 'ed25519', 1796417772, 1804193771, 'valid', '427690fb265d228aa4e7f7f12bd535171615ca867b9440ba2b8077216302c653', '\x3082025b30820143a00302010202104ac565b24b0e938f06dabaffe3876679300d06092a864886f70d01010b050030163114301206035504030c0b7273612d69737375696e67301e170d3236313230343230353631325a170d3237303330343230353631315a301e311c301a06035504030c136170692e666978747572652e6578616d706c65302a300506032b6570032100608b559d90eeb8576ee2cf8c90db74e8ed53a4c5ccbf5628238016b6cc21c467a38196308193300c0603551d130101ff04023000300e0603551d0f0101ff04040302078030130603551d25040c300a06082b06010505070301301d0603551d0e04160414ad4ca51c28fbb40a8fff0fdbfc4fa77b079a0b42301f0603551d23041830168014493695ef2d144a526256b67c093f344f3b1ad491301e0603551d110417301582136170692e666978747572652e6578616d706c65300d06092a864886f70d01010b050003820101001d7fd1d8b66f8fcad1f82298b6a5fba455738777b21d67185ea9fbaaa9ae3a9babfef875eb5a244a261d698f6b41190a191cf0bd239782f13295c00f8bef8ebac2881ca2d51aefeb07b97a5b1da04a59ac7311344f40128cefe98ea91685ac07dca9963485e1abc490c1fe9cfbce1c179a3f7177beb962220a7ae8b28f3f88d91a548d875495343629bfb311fccbdb988ffabb9003239fa750063d3346489321d8cd545f10a766e5f8b10515d53f258f012e75f9b767ea2b65148eb76136e224c76732d9200ace78fc1b45338fc602e4020edb2cf73a80ddc734395bc822818ed66247cab02d46f799a298405d54ccb9d4ce0728a1a18b4a7ebb3ffc1ebc06e8', 1796417772, NULL, NULL, '74d36ee7a95239b2ac059248f1dc4b6a3debc6acf65a541d2b8e4ac16273a8b9', NULL, NULL, NULL, NULL, NULL);
INSERT INTO public.certificates VALUES (5, 2, '4C7414E52B60DF1C1539171932E2945C', 'CN=old.fixture.example', '[{"type":"dns","value":"old.fixture.example"}]', 'tls-server', 'p256', 1796417771, 1804193770, 'revoked', '20bf821652b70225570ae468f2753721e2d30cf0985914256f18bb39fe40b569', '\x3082026d30820212a00302010202104c7414e52b60df1c1539171932e2945c300a06082a811ccf5501837530123110300e06035504030c0769737375696e67301e170d3236313230343230353631315a170d3237303330343230353631305a301e311c301a06035504030c136f6c642e666978747572652e6578616d706c653059301306072a8648ce3d020106082a8648ce3d0301070342000464a2c6f08303e5fa70bf6e3a362bcbe29f96114e9fe99a1acf398c9048ddbfce476a89fbbae341352d587ce06484fc0924a345bc95d59e547564daf0f3c2f5a1a382013c30820138300c0603551d130101ff04023000300e0603551d0f0101ff04040302078030130603551d25040c300a06082b06010505070301301d0603551d0e041604141d273ee0a01180e01b4929cded94964063a3c416301f0603551d23041830168014a07f40e322cd3a80aac7c1d7cd99466088e34628301e0603551d110417301582136f6c642e666978747572652e6578616d706c6530370603551d1f0430302e302ca02aa0288626687474703a2f2f3132372e302e302e313a31383038302f63726c2f69737375696e672e63726c306a06082b06010505070101045e305c302706082b06010505073001861b687474703a2f2f3132372e302e302e313a31383038302f6f637370303106082b060105050730028625687474703a2f2f3132372e302e302e313a31383038302f63612f69737375696e672e637274300a06082a811ccf5501837503490030460221008ecf5d622a00959bddd5888d04c2ed3f6ca0676c961b53f94164ac1b29715047022100ab44eee4aa2cc9c23ad8a8679a68a7241fa60b217125790df4338f85caa7ba25', 1796417771, NULL, 'http://127.0.0.1:18080/crl/issuing.crl', '15864906038d51c10470b448c7518b0e2adb2f95caf2ce1a96d67cc0bd11bd02', 1796417772, 1, NULL, NULL, 1);
INSERT INTO public.certificates VALUES (6, 2, '78F8DFE5E863DA3745FA7B258CFFF6ED', 'CN=hold.fixture.example', '[{"type":"dns","value":"hold.fixture.example"}]', 'tls-server', 'sm2', 1796417772, 1804193771, 'valid', '318e13110f4e4f2702cfb0a5ec2d3d964994b53a3abbfe3f6436acba8241911b', '\x3082026f30820214a003020102021078f8dfe5e863da3745fa7b258cfff6ed300a06082a811ccf5501837530123110300e06035504030c0769737375696e67301e170d3236313230343230353631325a170d3237303330343230353631315a301f311d301b06035504030c14686f6c642e666978747572652e6578616d706c653059301306072a8648ce3d020106082a811ccf5501822d034200049b66d000716df425455547c0864c1b7c5d585910e0ea1033b92dfec2fdf0889ab41b6116f98154ee93638e61be3e6f2c76f45235d716035a1daf809a95fac9e5a382013d30820139300c0603551d130101ff04023000300e0603551d0f0101ff04040302078030130603551d25040c300a06082b06010505070301301d0603551d0e041604145b964b44e2feb4460a67c1822d5852286e39f8b4301f0603551d23041830168014a07f40e322cd3a80aac7c1d7cd99466088e34628301f0603551d11041830168214686f6c642e666978747572652e6578616d706c6530370603551d1f0430302e302ca02aa0288626687474703a2f2f3132372e302e302e313a31383038302f63726c2f69737375696e672e63726c306a06082b06010505070101045e305c302706082b06010505073001861b687474703a2f2f3132372e302e302e313a31383038302f6f637370303106082b060105050730028625687474703a2f2f3132372e302e302e313a31383038302f63612f69737375696e672e637274300a06082a811ccf550183750349003046022100b3cb9366f5ad4fcd5f5f10b7a4ffdbf636e7a266f1269fbab4d5215baf8df69b022100935e71990a21f61a685e3bf1f9f0cb45bf089380ceda6adf2d519e4e9399b10f', 1796417772, NULL, 'http://127.0.0.1:18080/crl/issuing.crl', 'a14354bc0673ae9bc6596d76900728d49236ba85fc98608a12932ecf41f5f596', NULL, NULL, NULL, 1796417772, 3);
INSERT INTO public.certificates VALUES (8, 3, '53C3FE7738D674161E4F866AA0EA9287', 'CN=api.fixture.example', '[{"type":"dns","value":"api.fixture.example"}]', 'tls-server', 'ed25519', 1796417773, 1804193772, 'valid', '83712e1ab06032ffce2c6848e485ae489c7ca017b0e7a342bbfaba52cb909aa9', '\x3082025b30820143a003020102021053c3fe7738d674161e4f866aa0ea9287300d06092a864886f70d01010b050030163114301206035504030c0b7273612d69737375696e67301e170d3236313230343230353631335a170d3237303330343230353631325a301e311c301a06035504030c136170692e666978747572652e6578616d706c65302a300506032b6570032100608b559d90eeb8576ee2cf8c90db74e8ed53a4c5ccbf5628238016b6cc21c467a38196308193300c0603551d130101ff04023000300e0603551d0f0101ff04040302078030130603551d25040c300a06082b06010505070301301d0603551d0e04160414ad4ca51c28fbb40a8fff0fdbfc4fa77b079a0b42301f0603551d23041830168014493695ef2d144a526256b67c093f344f3b1ad491301e0603551d110417301582136170692e666978747572652e6578616d706c65300d06092a864886f70d01010b05000382010100d5cd767c30a08b33c86d2279375a4b2d69026ac2d49b7a4678285273a5adeac084fc3ac114cdc1b4535b377225790124d7da0aef8d864066ccdd2504c38591a28f643353ce0be4ad9d533b362214192ee2b9a1551d2f8700bfb04879cb5b0ca8655011fd06bccbe69891634fbaec2f1820891ebeb23470631febd4dd8fccdbd06678fde5f75630eb4f18f9b7b1c4d816ab87e54dc02b3b21d8fc2bc22a25c451cda90a5c783170d8801bb8aaae40f62e56e292b265d97b034799b76b1dd79b89bfa604c3d4f1bf724e89683653b07f3d9b60b00eda143c8f78477e098bc1bf95e0d91019509535c47e6a34ce35f9696e4807fb342fb6aeb5c96b08891427c68a', 1796417773, NULL, NULL, '74d36ee7a95239b2ac059248f1dc4b6a3debc6acf65a541d2b8e4ac16273a8b9', NULL, NULL, NULL, NULL, NULL);


--
-- Data for Name: crl_numbers; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.crl_numbers VALUES (2, 2);


--
-- Data for Name: crl_parts; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: crls; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.crls VALUES (1, 2, 1, NULL, NULL, 2, 1796417772, 1797022572, 2, '\x308201ac30820151020101300a06082a811ccf5501837530123110300e06035504030c0769737375696e67170d3236313230343230353631325a170d3236313231313230353631325a3062302f02104c7414e52b60df1c1539171932e2945c170d3236313230343230353631325a300c300a0603551d1504030a0101302f021078f8dfe5e863da3745fa7b258cfff6ed170d3236313230343230353631325a300c300a0603551d1504030a0106a081a93081a6301f0603551d23041830168014a07f40e322cd3a80aac7c1d7cd99466088e34628300a0603551d14040302010130380603551d1c0101ff042e302ca02aa0288626687474703a2f2f3132372e302e302e313a31383038302f63726c2f69737375696e672e63726c303d0603551d2e043630343032a030a02e862c687474703a2f2f3132372e302e302e313a31383038302f63726c2f69737375696e672d64656c74612e63726c300a06082a811ccf550183750349003046022100ec72870fc12a1a24df00b7eef1ecc9050c74dc60c6cb942ca15e30b714c797cc022100920dc34a69d56f687f5a59f7d13388e22f673951a87b73d0d2aa225670531964', 0);
INSERT INTO public.crls VALUES (2, 2, 2, NULL, 1, 3, 1796417773, 1796504173, 1, '\x308201483081ee020101300a06082a811ccf5501837530123110300e06035504030c0769737375696e67170d3236313230343230353631335a170d3236313230353230353631335a3031302f021078f8dfe5e863da3745fa7b258cfff6ed170d3236313230343230353631325a300c300a0603551d1504030a0108a0783076301f0603551d23041830168014a07f40e322cd3a80aac7c1d7cd99466088e34628300a0603551d140403020102300d0603551d1b0101ff040302010130380603551d1c0101ff042e302ca02aa0288626687474703a2f2f3132372e302e302e313a31383038302f63726c2f69737375696e672e63726c300a06082a811ccf55018375034900304602210098e0835ea3eeda270ea3990ac291f9c855c0613df9a8f8b6481fe54de0e60655022100f40134906d770db23cd259a307fd99c8ae7e49582a38adba08d63d266245bcf9', 0);


--
-- Data for Name: cross_certificates; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: inventory; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.inventory VALUES (1, '13c02d0ebf183d02a15367e6034cbd2001be88b1c4c87bfbd38fd8f207f75555', 'CN=external.fixture.example', 'CN=external.fixture.example', '6B326CD60D662E30E1285BF82E7D17524A51FB89', '[]', 'p256', 1796417773, 1799009773, NULL, NULL, 'ext.pem', '\x3082019b30820141a00302010202146b326cd60d662e30e1285bf82e7d17524a51fb89300a06082a8648ce3d04030230233121301f06035504030c1865787465726e616c2e666978747572652e6578616d706c65301e170d3236313230343230353631335a170d3237303130333230353631335a30233121301f06035504030c1865787465726e616c2e666978747572652e6578616d706c653059301306072a8648ce3d020106082a8648ce3d0301070342000415d71547a3ff31afa204d7eb2a10ec6b6b4cfafdc222e7ded2af70bec23525eed6cdc7eb3717b1b467921c2a83fd41e3d0fe806cced6501f8232a07f4421a399a3533051301d0603551d0e04160414e6d6ffb5b6a4193361782d665061e4a7feee483c301f0603551d23041830168014e6d6ffb5b6a4193361782d665061e4a7feee483c300f0603551d130101ff040530030101ff300a06082a8648ce3d040302034800304502205fa3a0e8c76af058c448ff1e09c6100c99e8e86a10eb79fb2114ad593ede060f022100b8b6b3023bb59cbcd366f95c58005031d491644d88ba476da5cc6ef2e0cc8ba3', 1796417773);


--
-- Data for Name: kmc_escrow; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: managed_certificates; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: notifications; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ocsp_responders; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: ocsp_responses; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: scheduled_revocations; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: serials; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.serials VALUES ('2B102D5AF92571B242A779AA8504FE5B575A9F5C', '510F084E90EF4E5A1983B94401E76C04', 'used', 1796417770);
INSERT INTO public.serials VALUES ('2B102D5AF92571B242A779AA8504FE5B575A9F5C', '733613B9CE95E819F0FD4EA1FE82B94D', 'used', 1796417770);
INSERT INTO public.serials VALUES ('2B102D5AF92571B242A779AA8504FE5B575A9F5C', '426A4C8B5EEC05680C749F799AE0063E', 'used', 1796417771);
INSERT INTO public.serials VALUES ('A07F40E322CD3A80AAC7C1D7CD99466088E34628', '62379AD3AF073FC8D47D1F5D97E24BC2', 'used', 1796417771);
INSERT INTO public.serials VALUES ('A07F40E322CD3A80AAC7C1D7CD99466088E34628', '4C7414E52B60DF1C1539171932E2945C', 'used', 1796417771);
INSERT INTO public.serials VALUES ('A07F40E322CD3A80AAC7C1D7CD99466088E34628', '78F8DFE5E863DA3745FA7B258CFFF6ED', 'used', 1796417772);
INSERT INTO public.serials VALUES ('493695EF2D144A526256B67C093F344F3B1AD491', '4AC565B24B0E938F06DABAFFE3876679', 'used', 1796417772);
INSERT INTO public.serials VALUES ('493695EF2D144A526256B67C093F344F3B1AD491', '53C3FE7738D674161E4F866AA0EA9287', 'used', 1796417773);


--
-- Data for Name: token_issuances; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Name: api_tokens_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.api_tokens_id_seq', 1, true);


--
-- Name: cas_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.cas_id_seq', 3, true);


--
-- Name: certificate_pairs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.certificate_pairs_id_seq', 1, false);


--
-- Name: certificates_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.certificates_id_seq', 8, true);


--
-- Name: crls_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.crls_id_seq', 2, true);


--
-- Name: inventory_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.inventory_id_seq', 1, true);


--
-- Name: managed_certificates_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.managed_certificates_id_seq', 1, false);


--
-- Name: notifications_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.notifications_id_seq', 1, false);


--
-- Name: ocsp_responders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.ocsp_responders_id_seq', 1, false);


--
-- Name: token_issuances_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.token_issuances_id_seq', 1, false);


--
-- Name: api_tokens api_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);


--
-- Name: api_tokens api_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (seq);


--
-- Name: blocked_keys blocked_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blocked_keys
    ADD CONSTRAINT blocked_keys_pkey PRIMARY KEY (spki_sha256);


--
-- Name: caforge_migrations caforge_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.caforge_migrations
    ADD CONSTRAINT caforge_migrations_pkey PRIMARY KEY (version);


--
-- Name: cas cas_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cas
    ADD CONSTRAINT cas_name_key UNIQUE (name);


--
-- Name: cas cas_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cas
    ADD CONSTRAINT cas_pkey PRIMARY KEY (id);


--
-- Name: certificate_pairs certificate_pairs_first_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_pairs
    ADD CONSTRAINT certificate_pairs_first_id_key UNIQUE (first_id);


--
-- Name: certificate_pairs certificate_pairs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_pairs
    ADD CONSTRAINT certificate_pairs_pkey PRIMARY KEY (id);


--
-- Name: certificate_pairs certificate_pairs_second_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_pairs
    ADD CONSTRAINT certificate_pairs_second_id_key UNIQUE (second_id);


--
-- Name: certificate_successions certificate_successions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_successions
    ADD CONSTRAINT certificate_successions_pkey PRIMARY KEY (successor_id);


--
-- Name: certificates certificates_issuer_ca_id_serial_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT certificates_issuer_ca_id_serial_key UNIQUE (issuer_ca_id, serial);


--
-- Name: certificates certificates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT certificates_pkey PRIMARY KEY (id);


--
-- Name: crl_numbers crl_numbers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crl_numbers
    ADD CONSTRAINT crl_numbers_pkey PRIMARY KEY (ca_id);


--
-- Name: crl_parts crl_parts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crl_parts
    ADD CONSTRAINT crl_parts_pkey PRIMARY KEY (crl_id, part);


--
-- Name: crls crls_ca_id_number_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crls
    ADD CONSTRAINT crls_ca_id_number_key UNIQUE (ca_id, number);


--
-- Name: crls crls_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crls
    ADD CONSTRAINT crls_pkey PRIMARY KEY (id);


--
-- Name: cross_certificates cross_certificates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cross_certificates
    ADD CONSTRAINT cross_certificates_pkey PRIMARY KEY (certificate_id);


--
-- Name: inventory inventory_fingerprint_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory
    ADD CONSTRAINT inventory_fingerprint_key UNIQUE (fingerprint);


--
-- Name: inventory inventory_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory
    ADD CONSTRAINT inventory_pkey PRIMARY KEY (id);


--
-- Name: kmc_escrow kmc_escrow_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.kmc_escrow
    ADD CONSTRAINT kmc_escrow_pkey PRIMARY KEY (certificate_id);


--
-- Name: managed_certificates managed_certificates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.managed_certificates
    ADD CONSTRAINT managed_certificates_pkey PRIMARY KEY (id);


--
-- Name: notifications notifications_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT notifications_pkey PRIMARY KEY (id);


--
-- Name: notifications notifications_target_threshold_days_webhook_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT notifications_target_threshold_days_webhook_key UNIQUE (target, threshold_days, webhook);


--
-- Name: ocsp_responders ocsp_responders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocsp_responders
    ADD CONSTRAINT ocsp_responders_pkey PRIMARY KEY (id);


--
-- Name: ocsp_responses ocsp_responses_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocsp_responses
    ADD CONSTRAINT ocsp_responses_pkey PRIMARY KEY (ca_id, serial, hash_alg);


--
-- Name: scheduled_revocations scheduled_revocations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.scheduled_revocations
    ADD CONSTRAINT scheduled_revocations_pkey PRIMARY KEY (certificate_id);


--
-- Name: serials serials_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.serials
    ADD CONSTRAINT serials_pkey PRIMARY KEY (issuer_key_id, serial);


--
-- Name: token_issuances token_issuances_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token_issuances
    ADD CONSTRAINT token_issuances_pkey PRIMARY KEY (id);


--
-- Name: cas_predecessor; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX cas_predecessor ON public.cas USING btree (predecessor_ca_id) WHERE (predecessor_ca_id IS NOT NULL);


--
-- Name: certificate_successions_predecessor; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificate_successions_predecessor ON public.certificate_successions USING btree (predecessor_id);


--
-- Name: certificates_crl_order; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_crl_order ON public.certificates USING btree (issuer_ca_id, length(serial), serial COLLATE "C");


--
-- Name: certificates_issuer_expiry; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_issuer_expiry ON public.certificates USING btree (issuer_ca_id, not_after);


--
-- Name: certificates_not_after; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_not_after ON public.certificates USING btree (not_after);


--
-- Name: certificates_revocation_seq; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_revocation_seq ON public.certificates USING btree (issuer_ca_id, revocation_seq) WHERE (revocation_seq IS NOT NULL);


--
-- Name: certificates_revocation_seq_all; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_revocation_seq_all ON public.certificates USING btree (revocation_seq) WHERE (revocation_seq IS NOT NULL);


--
-- Name: certificates_revoked; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_revoked ON public.certificates USING btree (issuer_ca_id, status, crl_partition);


--
-- Name: certificates_serial; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX certificates_serial ON public.certificates USING btree (serial);


--
-- Name: crls_scope; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX crls_scope ON public.crls USING btree (ca_id, partition, base_number, number);


--
-- Name: cross_certificates_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX cross_certificates_subject ON public.cross_certificates USING btree (subject_ca_id);


--
-- Name: inventory_not_after; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX inventory_not_after ON public.inventory USING btree (not_after);


--
-- Name: inventory_serial; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX inventory_serial ON public.inventory USING btree (serial);


--
-- Name: notifications_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX notifications_due ON public.notifications USING btree (state, next_attempt_at);


--
-- Name: scheduled_revocations_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX scheduled_revocations_due ON public.scheduled_revocations USING btree (due_at);


--
-- Name: token_issuances_window; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX token_issuances_window ON public.token_issuances USING btree (token_id, reserved_at);


--
-- Name: audit audit_no_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_no_update BEFORE DELETE OR UPDATE ON public.audit FOR EACH ROW EXECUTE FUNCTION public.caforge_audit_append_only();


--
-- Name: blocked_keys blocked_keys_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER blocked_keys_notify AFTER INSERT OR DELETE OR UPDATE ON public.blocked_keys FOR EACH STATEMENT EXECUTE FUNCTION public.caforge_notify_write();


--
-- Name: cas cas_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER cas_notify AFTER INSERT OR DELETE OR UPDATE ON public.cas FOR EACH STATEMENT EXECUTE FUNCTION public.caforge_notify_write();


--
-- Name: certificate_pairs certificate_pairs_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER certificate_pairs_notify AFTER INSERT OR DELETE OR UPDATE ON public.certificate_pairs FOR EACH STATEMENT EXECUTE FUNCTION public.caforge_notify_write();


--
-- Name: certificates certificates_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER certificates_notify AFTER INSERT OR DELETE OR UPDATE ON public.certificates FOR EACH STATEMENT EXECUTE FUNCTION public.caforge_notify_write();


--
-- Name: crls crls_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER crls_notify AFTER INSERT OR DELETE OR UPDATE ON public.crls FOR EACH STATEMENT EXECUTE FUNCTION public.caforge_notify_write();


--
-- Name: ocsp_responders ocsp_responders_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ocsp_responders_notify AFTER INSERT OR DELETE OR UPDATE ON public.ocsp_responders FOR EACH STATEMENT EXECUTE FUNCTION public.caforge_notify_write();


--
-- Name: blocked_keys blocked_keys_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.blocked_keys
    ADD CONSTRAINT blocked_keys_ca_id_fkey FOREIGN KEY (ca_id) REFERENCES public.cas(id);


--
-- Name: cas cas_parent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cas
    ADD CONSTRAINT cas_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.cas(id);


--
-- Name: cas cas_predecessor_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cas
    ADD CONSTRAINT cas_predecessor_ca_id_fkey FOREIGN KEY (predecessor_ca_id) REFERENCES public.cas(id);


--
-- Name: certificate_pairs certificate_pairs_first_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_pairs
    ADD CONSTRAINT certificate_pairs_first_id_fkey FOREIGN KEY (first_id) REFERENCES public.certificates(id);


--
-- Name: certificate_pairs certificate_pairs_second_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_pairs
    ADD CONSTRAINT certificate_pairs_second_id_fkey FOREIGN KEY (second_id) REFERENCES public.certificates(id);


--
-- Name: certificate_successions certificate_successions_predecessor_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_successions
    ADD CONSTRAINT certificate_successions_predecessor_id_fkey FOREIGN KEY (predecessor_id) REFERENCES public.certificates(id);


--
-- Name: certificate_successions certificate_successions_successor_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificate_successions
    ADD CONSTRAINT certificate_successions_successor_id_fkey FOREIGN KEY (successor_id) REFERENCES public.certificates(id);


--
-- Name: certificates certificates_issuer_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.certificates
    ADD CONSTRAINT certificates_issuer_ca_id_fkey FOREIGN KEY (issuer_ca_id) REFERENCES public.cas(id);


--
-- Name: crl_numbers crl_numbers_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crl_numbers
    ADD CONSTRAINT crl_numbers_ca_id_fkey FOREIGN KEY (ca_id) REFERENCES public.cas(id);


--
-- Name: crl_parts crl_parts_crl_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crl_parts
    ADD CONSTRAINT crl_parts_crl_id_fkey FOREIGN KEY (crl_id) REFERENCES public.crls(id);


--
-- Name: crls crls_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.crls
    ADD CONSTRAINT crls_ca_id_fkey FOREIGN KEY (ca_id) REFERENCES public.cas(id);


--
-- Name: cross_certificates cross_certificates_certificate_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cross_certificates
    ADD CONSTRAINT cross_certificates_certificate_id_fkey FOREIGN KEY (certificate_id) REFERENCES public.certificates(id);


--
-- Name: cross_certificates cross_certificates_subject_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cross_certificates
    ADD CONSTRAINT cross_certificates_subject_ca_id_fkey FOREIGN KEY (subject_ca_id) REFERENCES public.cas(id);


--
-- Name: inventory inventory_issuer_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.inventory
    ADD CONSTRAINT inventory_issuer_ca_id_fkey FOREIGN KEY (issuer_ca_id) REFERENCES public.cas(id);


--
-- Name: kmc_escrow kmc_escrow_certificate_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.kmc_escrow
    ADD CONSTRAINT kmc_escrow_certificate_id_fkey FOREIGN KEY (certificate_id) REFERENCES public.certificates(id);


--
-- Name: managed_certificates managed_certificates_certificate_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.managed_certificates
    ADD CONSTRAINT managed_certificates_certificate_id_fkey FOREIGN KEY (certificate_id) REFERENCES public.certificates(id);


--
-- Name: ocsp_responders ocsp_responders_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocsp_responders
    ADD CONSTRAINT ocsp_responders_ca_id_fkey FOREIGN KEY (ca_id) REFERENCES public.cas(id);


--
-- Name: ocsp_responders ocsp_responders_certificate_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocsp_responders
    ADD CONSTRAINT ocsp_responders_certificate_id_fkey FOREIGN KEY (certificate_id) REFERENCES public.certificates(id);


--
-- Name: ocsp_responses ocsp_responses_ca_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ocsp_responses
    ADD CONSTRAINT ocsp_responses_ca_id_fkey FOREIGN KEY (ca_id) REFERENCES public.cas(id);


--
-- Name: scheduled_revocations scheduled_revocations_certificate_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.scheduled_revocations
    ADD CONSTRAINT scheduled_revocations_certificate_id_fkey FOREIGN KEY (certificate_id) REFERENCES public.certificates(id);


--
-- Name: token_issuances token_issuances_certificate_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token_issuances
    ADD CONSTRAINT token_issuances_certificate_id_fkey FOREIGN KEY (certificate_id) REFERENCES public.certificates(id);


--
-- Name: token_issuances token_issuances_token_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token_issuances
    ADD CONSTRAINT token_issuances_token_id_fkey FOREIGN KEY (token_id) REFERENCES public.api_tokens(id);


--
-- PostgreSQL database dump complete
--



//! Metric names, Envoy's where Envoy has one so existing dashboards map over.
//! Each family is an enum whose variants index a worker's counter array; the
//! name of a variant is a compile-time constant (Sōzu `metrics/names.rs`).

macro_rules! metric_family {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $var:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $var,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var,)*];
            pub const COUNT: usize = Self::ALL.len();

            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$var => $text,)*
                }
            }
        }
    };
}

metric_family! {
    /// Per listener (Envoy's connection-manager stats: `http.<listener>.…`).
    ListenerCounter {
        DownstreamCxTotal = "downstream_cx_total",
        DownstreamCxDestroy = "downstream_cx_destroy",
        /// Connections that speak HTTP/1.1 (counted when the protocol is known).
        DownstreamCxHttp1Total = "downstream_cx_http1_total",
        /// Connections that speak HTTP/2 (prior knowledge, preface or ALPN).
        DownstreamCxHttp2Total = "downstream_cx_http2_total",
        /// Bytes read from client sockets (ciphertext on TLS listeners).
        DownstreamCxRxBytesTotal = "downstream_cx_rx_bytes_total",
        /// Bytes written to client sockets (ciphertext on TLS listeners).
        DownstreamCxTxBytesTotal = "downstream_cx_tx_bytes_total",
        DownstreamRqTotal = "downstream_rq_total",
        DownstreamRq1xx = "downstream_rq_1xx",
        DownstreamRq2xx = "downstream_rq_2xx",
        DownstreamRq3xx = "downstream_rq_3xx",
        DownstreamRq4xx = "downstream_rq_4xx",
        DownstreamRq5xx = "downstream_rq_5xx",
        /// The client closed or reset before its response was complete.
        DownstreamRqRxReset = "downstream_rq_rx_reset",
        /// 431: the head was over `max_request_headers_size` or count.
        DownstreamRqHeadersTooLarge = "downstream_rq_headers_too_large",
        /// 414: the request target was over `max_uri_size`.
        DownstreamRqUriTooLarge = "downstream_rq_uri_too_large",
        /// 413: the body was over `max_request_body_size`.
        DownstreamRqBodyTooLarge = "downstream_rq_too_large",
        /// 400/405/505: a request we could not frame or will not serve.
        DownstreamRqBadFraming = "downstream_rq_bad_framing",
        /// 400: a header name with `_` under `headers_with_underscores: reject_request`.
        Http1RequestsRejectedWithUnderscoresInHeaders =
            "http1.requests_rejected_with_underscores_in_headers",
        /// Header names with `_` not forwarded (`headers_with_underscores: drop_header`).
        Http1DroppedHeadersWithUnderscores = "http1.dropped_headers_with_underscores",
        /// 408: the head or body did not arrive in time.
        DownstreamRqTimeout = "downstream_rq_timeout",
        /// 408 (or a cut response): `stream_idle_timeout` passed with no body bytes.
        DownstreamRqIdleTimeout = "downstream_rq_idle_timeout",
        /// 408 (or a cut response): `max_stream_duration` reached.
        DownstreamRqMaxDurationReached = "downstream_rq_max_duration_reached",
        /// 404 from ringway: no route matched.
        DownstreamRqNoRoute = "downstream_rq_no_route",
        /// 429 from ringway: the client had `max_upstream_requests_per_client` in flight.
        DownstreamRqClientLimit = "downstream_rq_client_limited",
        /// Requests answered by the listener's `health_check` path.
        DownstreamRqHealthCheck = "downstream_rq_health_check",
        /// Connections closed at accept: `max_connections` were open.
        DownstreamCxOverflow = "downstream_cx_overflow",
        /// Connections closed at accept: the top-level `max_connections` were open.
        DownstreamGlobalCxOverflow = "downstream_global_cx_overflow",
        /// HTTP/2 connections that became HTTP/2 (prior knowledge or ALPN).
        Http2Connections = "http2.connections",
        /// GOAWAYs sent: drain, `max_connection_duration`, idle, or a client's error.
        Http2GoawaySent = "http2.goaway_sent",
        /// HTTP/2 connections ended for the client's protocol error or flood
        /// (rapid reset, too many errored streams, bad frames): GOAWAY with a code.
        Http2RxMessagingError = "http2.rx_messaging_error",
        // TLS listeners (Envoy's `ssl.*`, under the listener here).
        /// Handshakes completed.
        SslHandshake = "ssl.handshake",
        /// Handshakes that failed (any cause below included).
        SslConnectionError = "ssl.connection_error",
        /// Handshakes that resumed a session (ticket or session id).
        SslSessionReused = "ssl.session_reused",
        /// Completed handshakes where the client sent no certificate.
        SslNoCertificate = "ssl.no_certificate",
        /// The client spoke plaintext (e.g. HTTP) to a TLS port: closed at once.
        SslNotTls = "ssl.plaintext_rejected",
        /// A handshake did not finish within `handshake_timeout`.
        SslHandshakeTimeout = "ssl.handshake_timeout",
        /// Closed at accept: `max_concurrent_handshakes` were in progress.
        SslHandshakeOverflow = "ssl.handshake_overflow",
        SslVersionTls12 = "ssl.versions.TLSv1_2",
        SslVersionTls13 = "ssl.versions.TLSv1_3",
        SslCipherTls13Aes128GcmSha256 = "ssl.ciphers.TLS_AES_128_GCM_SHA256",
        SslCipherTls13Aes256GcmSha384 = "ssl.ciphers.TLS_AES_256_GCM_SHA384",
        SslCipherTls13Chacha20Poly1305Sha256 = "ssl.ciphers.TLS_CHACHA20_POLY1305_SHA256",
        SslCipherEcdheEcdsaAes128GcmSha256 = "ssl.ciphers.ECDHE-ECDSA-AES128-GCM-SHA256",
        SslCipherEcdheEcdsaAes256GcmSha384 = "ssl.ciphers.ECDHE-ECDSA-AES256-GCM-SHA384",
        SslCipherEcdheEcdsaChacha20Poly1305 = "ssl.ciphers.ECDHE-ECDSA-CHACHA20-POLY1305",
        SslCipherEcdheRsaAes128GcmSha256 = "ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256",
        SslCipherEcdheRsaAes256GcmSha384 = "ssl.ciphers.ECDHE-RSA-AES256-GCM-SHA384",
        SslCipherEcdheRsaChacha20Poly1305 = "ssl.ciphers.ECDHE-RSA-CHACHA20-POLY1305",
        SslCurveX25519 = "ssl.curves.X25519",
        SslCurveP256 = "ssl.curves.P-256",
        SslCurveP384 = "ssl.curves.P-384",
        SslCurveX25519Mlkem768 = "ssl.curves.X25519MLKEM768",
    }
}

metric_family! {
    ListenerGauge {
        DownstreamCxActive = "downstream_cx_active",
        DownstreamRqActive = "downstream_rq_active",
        DownstreamCxHttp1Active = "downstream_cx_http1_active",
        DownstreamCxHttp2Active = "downstream_cx_http2_active",
    }
}

metric_family! {
    /// Per cluster (`cluster.<name>.…`).
    ClusterCounter {
        UpstreamCxTotal = "upstream_cx_total",
        /// Established connections closed, by either side, for any reason.
        UpstreamCxDestroy = "upstream_cx_destroy",
        /// New upstream connections speaking HTTP/1.1.
        UpstreamCxHttp1Total = "upstream_cx_http1_total",
        /// New upstream connections speaking HTTP/2.
        UpstreamCxHttp2Total = "upstream_cx_http2_total",
        /// Bytes read from upstream sockets (ciphertext for clusters with `tls`).
        UpstreamCxRxBytesTotal = "upstream_cx_rx_bytes_total",
        /// Bytes written to upstream sockets (ciphertext for clusters with `tls`).
        UpstreamCxTxBytesTotal = "upstream_cx_tx_bytes_total",
        UpstreamCxConnectFail = "upstream_cx_connect_fail",
        UpstreamCxConnectTimeout = "upstream_cx_connect_timeout",
        UpstreamRqTotal = "upstream_rq_total",
        UpstreamRq1xx = "upstream_rq_1xx",
        UpstreamRq2xx = "upstream_rq_2xx",
        UpstreamRq3xx = "upstream_rq_3xx",
        UpstreamRq4xx = "upstream_rq_4xx",
        UpstreamRq5xx = "upstream_rq_5xx",
        UpstreamRqTimeout = "upstream_rq_timeout",
        UpstreamRqRetry = "upstream_rq_retry",
        /// Reset or closed by the upstream before a whole response head.
        UpstreamRqRxReset = "upstream_rq_rx_reset",
        /// 503 because the cluster had no host to pick.
        UpstreamRqNoHealthy = "upstream_cx_none_healthy",
        /// A request met the connection breaker (`max_connections`): it was
        /// queued for a connection to free, or (its host had none on this
        /// worker) given a new one anyway. Not a 503 by itself.
        UpstreamCxOverflow = "upstream_cx_overflow",
        /// Requests that waited for a connection: opening one, or queued by
        /// `max_connections` (counted once however often it asked again).
        UpstreamRqPendingTotal = "upstream_rq_pending_total",
        /// 503 from a circuit breaker: `max_pending_requests`.
        UpstreamRqPendingOverflow = "upstream_rq_pending_overflow",
        /// 503 from a circuit breaker: `max_requests`.
        UpstreamRqOverflow = "upstream_rq_overflow",
        /// A retry the policy wanted but `max_retries` did not allow: the
        /// last attempt's failure went to the client instead.
        UpstreamRqRetryOverflow = "upstream_rq_retry_overflow",
        // Clusters with `tls` (Envoy's `cluster.<name>.ssl.*`).
        SslHandshake = "ssl.handshake",
        SslConnectionError = "ssl.connection_error",
        /// The upstream's certificate does not chain to the trusted CA (or is expired).
        SslFailVerifyError = "ssl.fail_verify_error",
        /// It chains, but is not for `sni`.
        SslFailVerifySan = "ssl.fail_verify_san",
        /// HTTP/2 connections closed because nothing arrived within the
        /// keepalive `timeout` after a PING (Envoy's `http2.keepalive_timeout`).
        Http2KeepaliveTimeout = "http2.keepalive_timeout",
    }
}

metric_family! {
    /// Per cluster, but not per core: counted in the cluster's shared health
    /// table (`upstream/health.rs`) by the one writer that owns each count, the
    /// health-check thread or the worker that ejects a host (rare). Only shown
    /// for clusters that configure the feature, as Envoy does.
    ClusterHealthCounter {
        /// Ejections enforced (ringway enforces every ejection it detects).
        OutlierEjectionsEnforcedTotal = "outlier_detection.ejections_enforced_total",
        /// One check of one host ran.
        HealthCheckAttempt = "health_check.attempt",
        HealthCheckSuccess = "health_check.success",
        HealthCheckFailure = "health_check.failure",
    }
}

metric_family! {
    /// Levels read from the shared health state when the admin asks.
    ClusterHealthGauge {
        /// Hosts ejected right now.
        OutlierEjectionsActive = "outlier_detection.ejections_active",
        /// Members the active checker considers healthy.
        HealthCheckHealthy = "health_check.healthy",
    }
}

impl ClusterHealthCounter {
    /// Whether a cluster with (outlier detection, health checks) has this stat.
    pub const fn shown(self, outlier: bool, checked: bool) -> bool {
        match self {
            ClusterHealthCounter::OutlierEjectionsEnforcedTotal => outlier,
            _ => checked,
        }
    }
}

impl ClusterHealthGauge {
    pub const fn shown(self, outlier: bool, checked: bool) -> bool {
        match self {
            ClusterHealthGauge::OutlierEjectionsActive => outlier,
            ClusterHealthGauge::HealthCheckHealthy => checked,
        }
    }
}

metric_family! {
    ClusterGauge {
        /// Requests (HTTP/2 streams) between picking a host and their end.
        UpstreamRqActive = "upstream_rq_active",
        /// Requests waiting for a connection now: opening one, or queued by
        /// `max_connections` (what `max_pending_requests` bounds).
        UpstreamRqPendingActive = "upstream_rq_pending_active",
        /// Upstream connections established and not yet closed, counted at
        /// the socket (`net::meter`): an HTTP/2 connection is one whatever
        /// its streams.
        UpstreamCxActive = "upstream_cx_active",
        /// Idle pooled connections, sampled on the worker's 100 ms tick.
        UpstreamCxIdle = "upstream_cx_idle",
    }
}

metric_family! {
    /// Per host, as `/clusters` shows them.
    HostCounter {
        CxTotal = "cx_total",
        CxConnectFail = "cx_connect_fail",
        RqTotal = "rq_total",
        RqSuccess = "rq_success",
        RqError = "rq_error",
        RqTimeout = "rq_timeout",
    }
}

metric_family! {
    HostGauge {
        RqActive = "rq_active",
        CxIdle = "cx_idle",
        /// Open connections to the host (kept at the socket, `net::meter`): an
        /// HTTP/2 connection counts once, however many streams it carries.
        CxActive = "cx_active",
    }
}

metric_family! {
    /// Per worker (`worker.<id>.…`).
    WorkerCounter {
        DownstreamCxAccepted = "downstream_cx_accepted",
        AccessLogLines = "access_log_lines",
        AccessLogWriteErrors = "access_log_write_errors",
        /// HTTP/1.1 keep-alive connections that, idle through a whole tick
        /// while waiting hot (io_uring, plain TCP: in a read holding their
        /// buffer), gave the buffer back and parked cold (`worker::h1`).
        DownstreamCxCooled = "downstream_cx_cooled",
    }
}

/// Derived at read time: the sum of `upstream_rq_1xx`…`5xx` (Envoy's
/// `upstream_rq_completed`: answered by the upstream, or charged ringway's answer).
pub const UPSTREAM_RQ_COMPLETED: &str = "upstream_rq_completed";
/// Derived at read time: the sum of `downstream_rq_1xx`…`5xx` (requests answered).
pub const DOWNSTREAM_RQ_COMPLETED: &str = "downstream_rq_completed";
pub const MEMBERSHIP_TOTAL: &str = "membership_total";
pub const MEMBERSHIP_HEALTHY: &str = "membership_healthy";
pub const DOWNSTREAM_RQ_TIME: &str = "downstream_rq_time";
/// Upstream connection lifetimes (histogram, ms).
pub const UPSTREAM_CX_LENGTH_MS: &str = "upstream_cx_length_ms";
/// Downstream connection lifetimes (histogram, ms).
pub const DOWNSTREAM_CX_LENGTH_MS: &str = "downstream_cx_length_ms";
/// Per status code: `upstream_rq_503` (Envoy's name; the code is a tag there).
pub const UPSTREAM_RQ_CODE_PREFIX: &str = "upstream_rq_";
/// The first status code with its own counter; codes up to 599 have one.
pub const FIRST_STATUS_CODE: u16 = 100;
pub const STATUS_CODE_SLOTS: usize = 500;
// `server.*`, as Envoy's.
pub const SERVER_CONCURRENCY: &str = "concurrency";
pub const SERVER_LIVE: &str = "live";
/// 0 live, 1 draining (Envoy's `server.state`).
pub const SERVER_STATE: &str = "state";
pub const SERVER_UPTIME: &str = "uptime";
/// The version as one integer: `major * 1_000_000 + minor * 1_000 + patch`.
pub const SERVER_VERSION: &str = "version";
/// Downstream connections open, over every listener.
pub const SERVER_TOTAL_CONNECTIONS: &str = "total_connections";
pub const UPSTREAM_RQ_TIME: &str = "upstream_rq_time";
/// Prefix of every Prometheus metric name (ringway naming).
pub const PROMETHEUS_PREFIX: &str = "ringway_";
/// Prefix of every Prometheus metric name and tag (Envoy naming).
pub const ENVOY_PROMETHEUS_PREFIX: &str = "envoy_";

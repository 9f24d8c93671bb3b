# The frontend image: nginx serving the static page (services/frontend/) on 8080, with
# services/docker/nginx.conf, which proxies nothing. Build from the repository root:
#
#   docker build -f services/docker/frontend.Dockerfile -t simpledl/frontend:0.1.0 .
#   minikube image build -f services/docker/frontend.Dockerfile -t simpledl/frontend:0.1.0 .
#
# Two stages: the first assembles the page and the config, world-readable (a checkout
# with umask 077 has files only root could read; nginx runs as UID 10001); the second is
# nginx with just those files. The page needs no build step. The stock entrypoint scripts
# (which rewrite /etc/nginx/conf.d at start) are bypassed: the config is complete as
# copied, and the root file system is read-only at run time.

FROM nginx:1.28.0-alpine-slim AS build

COPY services/docker/nginx.conf /site/nginx.conf
COPY services/frontend /site/html
RUN chmod -R a+rX,go-w /site


FROM nginx:1.28.0-alpine-slim AS runtime

RUN addgroup -S -g 10001 simpledl \
    && adduser -S -D -H -u 10001 -G simpledl -h /nonexistent -s /sbin/nologin simpledl \
    && rm -rf /etc/nginx/conf.d /usr/share/nginx/html

COPY --from=build /site/nginx.conf /etc/nginx/nginx.conf
COPY --from=build /site/html /usr/share/nginx/html

USER 10001:10001
EXPOSE 8080

# For docker run / Compose; Kubernetes uses the probes in k8s/base/frontend.yaml instead.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]

STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-e", "stderr"]
CMD ["-g", "daemon off;"]

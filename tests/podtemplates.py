"""A production-shaped Service for the tests: the pod template a team brings from a Deployment.

`PRODUCTION` is its YAML text (one document) and `production()` the same as data. It
uses what issue 17 names: a service account, volumes from a Secret and a ConfigMap
(and an emptyDir), `envFrom`, `valueFrom` (secretKeyRef, fieldRef,
resourceFieldRef), liveness, readiness and startup probes, resources, pod and
container `securityContext`, tolerations, affinity, an init container and a native
sidecar (an init container with `restartPolicy: Always`), `imagePullSecrets`,
`nodeSelector`, `topologySpreadConstraints`, a preStop hook.

Used by tests/unit/api/test_pod_templates.py (validate, Deployment round trip),
tests/unit/crds/test_pod_template_schema.py and tests/kubernetes/test_emulator_crds.py
(the CRD's schema accepts it).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["PRODUCTION", "production"]

PRODUCTION = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata:
  name: checkout
  namespace: shop
spec:
  policy: canary-standard
  scaling: {minReplicas: 3, maxReplicas: 12, targetCpuUtilizationPercentage: 70}
  template:
    metadata:
      labels: {app.kubernetes.io/name: checkout, tier: backend}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9090"}
    spec:
      serviceAccountName: checkout
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 45
      priorityClassName: business-critical
      imagePullSecrets:
        - name: registry-credentials
      nodeSelector:
        kubernetes.io/os: linux
        node.kubernetes.io/instance-type: m6i.large
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
      tolerations:
        - {key: dedicated, operator: Equal, value: checkout, effect: NoSchedule}
        - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute,
           tolerationSeconds: 60}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - key: topology.kubernetes.io/zone
                    operator: In
                    values: [eu-west-1a, eu-west-1b, eu-west-1c]
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels: {app.kubernetes.io/name: checkout}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: topology.kubernetes.io/zone
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels: {app.kubernetes.io/name: checkout}
      volumes:
        - name: tls
          secret:
            secretName: checkout-tls
            defaultMode: 288
        - name: config
          configMap:
            name: checkout-config
            items:
              - {key: app.yaml, path: app.yaml}
        - name: logs
          emptyDir: {sizeLimit: 256Mi}
      initContainers:
        - name: migrate
          image: ghcr.io/example/checkout:2.4.1
          command: [/app/checkout, migrate, --wait-for-lock=60s]
          envFrom:
            - secretRef: {name: checkout-db}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
        - name: log-shipper
          image: cr.fluentbit.io/fluent/fluent-bit:3.1.9
          restartPolicy: Always
          args: [--config=/fluent-bit/etc/fluent-bit.yaml]
          volumeMounts:
            - {name: logs, mountPath: /var/log/checkout, readOnly: true}
          resources:
            requests: {cpu: 20m, memory: 32Mi}
            limits: {memory: 64Mi}
      containers:
        - name: checkout
          image: ghcr.io/example/checkout:2.4.1
          imagePullPolicy: IfNotPresent
          args: [serve, --config=/etc/checkout/app.yaml]
          ports:
            - {name: http, containerPort: 8080, protocol: TCP}
            - {name: metrics, containerPort: 9090}
          env:
            - {name: LOG_LEVEL, value: info}
            - name: DATABASE_PASSWORD
              valueFrom:
                secretKeyRef: {name: checkout-db, key: password}
            - name: POD_NAME
              valueFrom:
                fieldRef: {fieldPath: metadata.name}
            - name: MEMORY_LIMIT_MB
              valueFrom:
                resourceFieldRef: {containerName: checkout, resource: limits.memory,
                                   divisor: 1Mi}
          envFrom:
            - configMapRef: {name: checkout-env}
            - prefix: FEATURE_
              secretRef: {name: checkout-flags, optional: true}
          volumeMounts:
            - {name: tls, mountPath: /etc/tls, readOnly: true}
            - {name: config, mountPath: /etc/checkout}
            - {name: logs, mountPath: /var/log/checkout}
          resources:
            requests: {cpu: 500m, memory: 512Mi}
            limits: {cpu: "2", memory: 1Gi}
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
            failureThreshold: 30
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 2
          readinessProbe:
            httpGet:
              path: /ready
              port: http
              httpHeaders: [{name: X-Probe, value: readiness}]
            periodSeconds: 5
            successThreshold: 2
            failureThreshold: 3
          lifecycle:
            preStop:
              exec: {command: [/bin/sh, -c, sleep 10]}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
"""


def production() -> dict[str, Any]:
    """The production Service as data (a fresh copy on each call)."""
    loaded: dict[str, Any] = yaml.safe_load(PRODUCTION)
    return loaded

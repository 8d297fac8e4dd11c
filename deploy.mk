# deploy.mk: the images and the Kubernetes deployment (docs/deploy.md). Included by the
# Makefile, which defines BIN (.venv/bin) and UV (.tools/bin/uv): `make deploy`, `make render`...

# ---- The one place the images are named -------------------------------------------------------
REGISTRY ?= ghcr.io/predlog
TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
API_IMAGE ?= $(REGISTRY)/predlog-api
CLIENT_IMAGE ?= $(REGISTRY)/predlog-client
# The names the manifests carry (manifests/base/kustomization.yaml, images:), which a plain
# `kubectl apply -k` deploys; render and deploy replace them with the ones above.
MANIFEST_API_IMAGE := ghcr.io/predlog/predlog-api
MANIFEST_CLIENT_IMAGE := ghcr.io/predlog/predlog-client
# ------------------------------------------------------------------------------------------------

DOCKER ?= docker
# deploy and delete use the user's kubectl from PATH, never the pinned one in $(BIN) (which the
# Makefile puts first on PATH); render uses the pinned one, so that tests and CI agree.
KUBECTL ?= $(or $(firstword $(filter-out $(abspath $(BIN))/kubectl,\
  $(wildcard $(addsuffix /kubectl,$(subst :, ,$(PATH)))))),kubectl)
KUSTOMIZE := $(BIN)/kubectl kustomize
OVERLAY ?= local
OVERLAYS := local production
# Fixed: the generated kustomizations refer to manifests/ by a relative path (kustomize refuses
# absolute ones).
DEPLOY_DIR := build/deploy
RENDER_DIR := build/manifests
PG_PASSWORD_FILE := manifests/overlays/production/postgres-password.txt
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: build_all push_all deploy delete render secrets checkov-env checkov

## build_all: both images, tagged $(TAG)
build_all:
	$(DOCKER) build -f Dockerfile.api -t $(API_IMAGE):$(TAG) .
	$(DOCKER) build -f Dockerfile.client -t $(CLIENT_IMAGE):$(TAG) .

## push_all: push both images to $(REGISTRY)
push_all:
	$(DOCKER) push $(API_IMAGE):$(TAG)
	$(DOCKER) push $(CLIENT_IMAGE):$(TAG)

## secrets: a random PostgreSQL password for the production overlay, once (never committed)
secrets: $(PG_PASSWORD_FILE)
$(PG_PASSWORD_FILE):
	@umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24), end="")' > $@
	@echo "wrote $@"

# A kustomization over the overlay that sets the images from the variables above, so that what
# is built, pushed and deployed always agree. Regenerated on every call (the variables may change).
define overlay_with_images
	@mkdir -p $(DEPLOY_DIR)/$(1)
	@printf '%s\n' \
	  'apiVersion: kustomize.config.k8s.io/v1beta1' \
	  'kind: Kustomization' \
	  'resources:' \
	  '  - ../../../manifests/overlays/$(1)' \
	  'images:' \
	  '  - name: $(MANIFEST_API_IMAGE)' \
	  '    newName: $(API_IMAGE)' \
	  '    newTag: "$(TAG)"' \
	  '  - name: $(MANIFEST_CLIENT_IMAGE)' \
	  '    newName: $(CLIENT_IMAGE)' \
	  '    newTag: "$(TAG)"' \
	  > $(DEPLOY_DIR)/$(1)/kustomization.yaml
endef

## render: every overlay rendered into build/manifests/<overlay>.yaml
render: $(addprefix render-,$(OVERLAYS))
render-%: secrets
	$(call overlay_with_images,$*)
	@mkdir -p $(RENDER_DIR)
	$(KUSTOMIZE) $(DEPLOY_DIR)/$* > $(RENDER_DIR)/$*.yaml

## deploy: apply the overlay OVERLAY (local or production) with the cluster's kubectl
deploy: secrets
	$(call overlay_with_images,$(OVERLAY))
	$(KUBECTL) apply -k $(DEPLOY_DIR)/$(OVERLAY)

## delete: remove what deploy applied (PostgreSQL's PersistentVolumeClaim is kept: see docs)
delete: secrets
	$(call overlay_with_images,$(OVERLAY))
	$(KUBECTL) delete -k $(DEPLOY_DIR)/$(OVERLAY) --ignore-not-found

## checkov-env: checkov in its own environment (its pins clash with the project's)
checkov-env: $(CHECKOV)
$(CHECKOV): $(UV)
	$(UV) venv --allow-existing --python 3.11 $(CHECKOV_VENV)
	$(UV) pip install --python $(CHECKOV_VENV)/bin/python "checkov==$(CHECKOV_VERSION)"
	@touch $@

## checkov: scan the rendered manifests and both Dockerfiles
checkov: render checkov-env
	$(CHECKOV) --config-file manifests/checkov.yaml --compact --quiet -d $(RENDER_DIR) --framework kubernetes
	$(CHECKOV) --config-file manifests/checkov.yaml --compact --quiet -f Dockerfile.api -f Dockerfile.client \
	  --framework dockerfile

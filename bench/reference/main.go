// The reference for bench/reconcile.ts: a controller-runtime controller doing the Tenant work of
// controllers/tenant.ts for Tenants with no Apps, Routes or Volumes (all the bench makes), so tend
// is measured against the Go baseline on the same servers in the same run.
//
// Same work, query for query: the row, usage and claims read in one statement, the missing claims
// inserted under the advisory lock and read again, the row upsert when the row is not current,
// then a merge patch of the status guarded by the resourceVersion, only when it differs. Same
// finalizer behaviour (-finalizer, on by default): tend.dev/tenant added on the first reconcile;
// on deletion the row and the claims go, then the finalizer. Same trigger: spec or metadata
// changes (not our own status writes), and a resync. What it leaves out: Apps, Routes and Volumes
// (their watches and the DeletionBlocked case), the hostname-overlap index, and membership (it
// passes fence 0, as one tend replica without membership would).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

const finalizerName = "tend.dev/tenant"

var groupVersion = schema.GroupVersion{Group: "tend.dev", Version: "v1alpha1"}

// Tenant is the part of tend's Tenant this controller reads and writes; fields it does not
// declare are kept by the server (status is written as a merge patch).
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TenantSpec   `json:"spec"`
	Status            TenantStatus `json:"status,omitempty"`
}

type TenantSpec struct {
	Namespaces []string `json:"namespaces,omitempty"`
	Suspended  bool     `json:"suspended,omitempty"`
}

type TenantUsage struct {
	Memory    string `json:"memory"`
	CPU       string `json:"cpu"`
	Instances int64  `json:"instances"`
	Apps      int64  `json:"apps"`
	Volumes   int64  `json:"volumes"`
	Storage   string `json:"storage"`
	Routes    int64  `json:"routes"`
}

type TenantStatus struct {
	Usage              *TenantUsage       `json:"usage,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
}

type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

func (t *Tenant) DeepCopyObject() runtime.Object { return t.DeepCopy() }

func (t *Tenant) DeepCopy() *Tenant {
	out := &Tenant{TypeMeta: t.TypeMeta}
	t.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	out.Spec = TenantSpec{Namespaces: slices.Clone(t.Spec.Namespaces), Suspended: t.Spec.Suspended}
	out.Status.ObservedGeneration = t.Status.ObservedGeneration
	if t.Status.Usage != nil {
		u := *t.Status.Usage
		out.Status.Usage = &u
	}
	if t.Status.Conditions != nil {
		out.Status.Conditions = make([]metav1.Condition, len(t.Status.Conditions))
		for i := range t.Status.Conditions {
			t.Status.Conditions[i].DeepCopyInto(&out.Status.Conditions[i])
		}
	}
	return out
}

func (l *TenantList) DeepCopyObject() runtime.Object {
	out := &TenantList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	out.Items = make([]Tenant, len(l.Items))
	for i := range l.Items {
		out.Items[i] = *l.Items[i].DeepCopy()
	}
	return out
}

// The statements of controllers/tenant-queries.ts, namespace-claim-queries.ts and app-queries.ts.
const (
	observeTenant = `select
      (select json_build_object('uid', uid, 'generation', generation::int, 'namespaces', namespaces)
         from platform.tenants where name = $2) as row,
      (select json_build_object('memory', coalesce(sum(memory), 0)::float8, 'cpu', coalesce(sum(cpu), 0)::float8, 'instances', count(*)::int)
         from platform.instances where tenant = $2) as placed,
      (select coalesce(json_agg(json_build_object('namespace', namespace, 'tenant', tenant, 'tenantUid', tenant_uid,
                'claimedAt', (extract(epoch from claimed_at) * 1000)::float8) order by claimed_at, tenant), '[]'::json)
         from platform.namespace_claims where namespace = any($1::text[]) or tenant = $2) as claims`
	claimsOfTenant = `select namespace, tenant, tenant_uid as "tenantUid", claimed_at as "claimedAt" from platform.namespace_claims
         where namespace = any($1::text[]) or tenant = $2
         order by claimed_at, tenant`
	insertClaims = `with locked as (
           select pg_advisory_xact_lock(hashtextextended('platform.namespace_claims', 0))
           where tend.fenced($4::bigint)
         )
         insert into platform.namespace_claims as c (namespace, tenant, tenant_uid, claimed_at)
         select ns, $2, $3, clock_timestamp() from locked, unnest($1::text[]) as ns
         on conflict (namespace, tenant) do update set tenant_uid = excluded.tenant_uid, claimed_at = excluded.claimed_at
           where c.tenant_uid <> excluded.tenant_uid
         returning namespace`
	upsertTenantRow = `insert into platform.tenants as t (name, uid, generation, namespaces, created_at)
         select $1, $2, $3, $4::text[], $5
         where tend.fenced($6::bigint)
         on conflict (name) do update
           set uid = excluded.uid, generation = excluded.generation, namespaces = excluded.namespaces,
               writes = t.writes + 1, updated_at = now()
           where (t.uid <> excluded.uid or t.generation <= excluded.generation)
             and (t.uid, t.generation, t.namespaces) is distinct from (excluded.uid, excluded.generation, excluded.namespaces)
         returning writes`
	deleteTenantRow  = `delete from platform.tenants where name = $1 and uid = $2 and tend.fenced($3::bigint)`
	releaseAllClaims = `delete from platform.namespace_claims where tenant = $1 and tenant_uid = $2 and tend.fenced($3::bigint)`
)

type claim struct {
	namespace, tenant, uid string
	at                     time.Time
}

type reconciler struct {
	client    client.Client
	db        *pgxpool.Pool
	finalizer bool
	delay     time.Duration
	resync    time.Duration
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	tenant := &Tenant{}
	if err := r.client.Get(ctx, req.NamespacedName, tenant); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tenant.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(tenant, finalizerName) {
			return ctrl.Result{}, nil
		}
		if _, err := r.db.Exec(ctx, deleteTenantRow, tenant.Name, string(tenant.UID), 0); err != nil {
			return ctrl.Result{}, err
		}
		if _, err := r.db.Exec(ctx, releaseAllClaims, tenant.Name, string(tenant.UID), 0); err != nil {
			return ctrl.Result{}, err
		}
		controllerutil.RemoveFinalizer(tenant, finalizerName)
		return ctrl.Result{}, r.client.Update(ctx, tenant)
	}
	if r.finalizer && controllerutil.AddFinalizer(tenant, finalizerName) {
		if err := r.client.Update(ctx, tenant); err != nil {
			return ctrl.Result{}, err
		}
	}

	var observed struct {
		Row *struct {
			UID        string   `json:"uid"`
			Generation int64    `json:"generation"`
			Namespaces []string `json:"namespaces"`
		}
		Placed struct {
			Memory    float64 `json:"memory"`
			CPU       float64 `json:"cpu"`
			Instances int64   `json:"instances"`
		}
		Claims []struct {
			Namespace string  `json:"namespace"`
			Tenant    string  `json:"tenant"`
			UID       string  `json:"tenantUid"`
			ClaimedAt float64 `json:"claimedAt"`
		}
	}
	if err := r.db.QueryRow(ctx, observeTenant, tenant.Spec.Namespaces, tenant.Name).Scan(&observed.Row, &observed.Placed, &observed.Claims); err != nil {
		return ctrl.Result{}, err
	}
	// A row of an earlier incarnation (same name, other uid) counts as no row.
	hasRow := observed.Row != nil && observed.Row.UID == string(tenant.UID)
	var rowGeneration int64
	var rowNamespaces []string
	if hasRow {
		rowGeneration, rowNamespaces = observed.Row.Generation, observed.Row.Namespaces
	}
	memory, cpu, instances := observed.Placed.Memory, observed.Placed.CPU, observed.Placed.Instances
	recorded := make([]claim, 0, len(observed.Claims))
	for _, c := range observed.Claims {
		recorded = append(recorded, claim{namespace: c.Namespace, tenant: c.Tenant, uid: c.UID, at: time.UnixMilli(int64(c.ClaimedAt))})
	}
	claims, err := r.claims(ctx, tenant, recorded)
	if err != nil {
		return ctrl.Result{}, err
	}

	listed := uniqueSorted(tenant.Spec.Namespaces)
	var granted, lost []string
	for _, ns := range listed {
		if owner := ownerOf(ns, claims, tenant); owner == tenant.Name {
			granted = append(granted, ns)
		} else {
			lost = append(lost, fmt.Sprintf("namespace %s belongs to tenant %s (claimed first)", ns, owner))
		}
	}
	if granted == nil {
		granted = []string{}
	}
	generation := tenant.Generation
	if !(hasRow && rowGeneration == generation && strings.Join(rowNamespaces, ",") == strings.Join(granted, ",")) && !(hasRow && rowGeneration > generation) {
		if _, err := r.db.Exec(ctx, upsertTenantRow, tenant.Name, string(tenant.UID), generation, granted, tenant.CreationTimestamp.Time, 0); err != nil {
			return ctrl.Result{}, err
		}
	}

	status := tenant.Status.DeepCopyStatus()
	set := func(t string, ok bool, reason, message string) {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: message, ObservedGeneration: generation})
	}
	if len(lost) == 0 {
		message := "claims no namespaces"
		if len(listed) == 1 {
			message = "owns namespace " + listed[0]
		} else if len(listed) > 1 {
			message = "owns namespaces " + strings.Join(listed, ", ")
		}
		set("NamespacesClaimed", true, "Claimed", message)
	} else {
		set("NamespacesClaimed", false, "NamespaceConflict", strings.Join(lost, "; "))
	}
	if tenant.Spec.Suspended {
		set("Active", false, "Suspended", "spec.suspended is true")
	} else {
		set("Active", true, "Active", "")
	}
	set("HostnamesExclusive", true, "Exclusive", "")
	set("WithinQuota", true, "WithinQuota", "")
	ready, reason, message := true, "AsExpected", ""
	for _, t := range []string{"NamespacesClaimed", "Active", "WithinQuota"} {
		if c := meta.FindStatusCondition(status.Conditions, t); c.Status != metav1.ConditionTrue {
			ready, reason, message = false, c.Reason, c.Message
			break
		}
	}
	set("Ready", ready, reason, message)
	status.Usage = &TenantUsage{Memory: quantity(memory), CPU: quantity(cpu), Instances: instances, Storage: "0"}
	status.ObservedGeneration = generation

	if !equality.Semantic.DeepEqual(tenant.Status, status) {
		patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
		tenant.Status = status
		if err := r.client.Status().Patch(ctx, tenant, patch); err != nil {
			// A stale read: look again soon, as tend's runtime does (conflictRetryMs).
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: 50 * time.Millisecond}, nil
			}
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{RequeueAfter: r.resync}, nil
}

// claims reads the claims on the tenant's namespaces, recording the missing ones first (read back
// once committed), as controllers/tenant.ts does.
func (r *reconciler) claims(ctx context.Context, tenant *Tenant, recorded []claim) ([]claim, error) {
	read := func() ([]claim, error) {
		rows, err := r.db.Query(ctx, claimsOfTenant, tenant.Spec.Namespaces, tenant.Name)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []claim
		for rows.Next() {
			var c claim
			if err := rows.Scan(&c.namespace, &c.tenant, &c.uid, &c.at); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, rows.Err()
	}
	var missing []string
	for _, ns := range uniqueSorted(tenant.Spec.Namespaces) {
		if !slices.ContainsFunc(recorded, func(c claim) bool { return c.namespace == ns && c.tenant == tenant.Name && c.uid == string(tenant.UID) }) {
			missing = append(missing, ns)
		}
	}
	if len(missing) == 0 {
		return recorded, nil
	}
	if _, err := r.db.Exec(ctx, insertClaims, missing, tenant.Name, string(tenant.UID), 0); err != nil {
		return nil, err
	}
	return read()
}

// ownerOf is reconcilers/namespace-claims.ts for a cluster where only this tenant is known:
// claims of other tenants count only while they are live, which this reference does not track,
// so the earliest claim wins (the bench gives every Tenant its own namespace).
func ownerOf(ns string, claims []claim, self *Tenant) string {
	for _, c := range claims {
		if c.namespace == ns {
			return c.tenant
		}
	}
	return self.Name
}

func (s TenantStatus) DeepCopyStatus() TenantStatus {
	return (&Tenant{Status: s}).DeepCopy().Status
}

func uniqueSorted(list []string) []string {
	out := slices.Clone(list)
	sort.Strings(out)
	return slices.Compact(out)
}

func quantity(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%g", v)
}

func main() {
	databaseURL := flag.String("database-url", "", "PostgreSQL URL (migrated by tend)")
	concurrency := flag.Int("concurrency", 16, "MaxConcurrentReconciles")
	delayMs := flag.Int("delay-ms", 0, "wait this long in every reconcile (the bench's wait10 mode)")
	resyncMs := flag.Int("resync-ms", 20_000, "look at every Tenant again after this long")
	metricsAddr := flag.String("metrics-addr", "127.0.0.1:0", "where /metrics listens")
	healthAddr := flag.String("health-addr", "127.0.0.1:0", "where /readyz listens (ready once the cache has synced)")
	withFinalizer := flag.Bool("finalizer", true, "add tend.dev/tenant as controllers/tenant.ts does")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.Level(zapcore.WarnLevel)))

	// controller-runtime's own --kubeconfig flag names the API server.
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(err)
	}
	// tend's client has no client-side rate limit: neither does the reference.
	cfg.QPS = -1
	scheme := runtime.NewScheme()
	scheme.AddKnownTypes(groupVersion, &Tenant{}, &TenantList{})
	metav1.AddToGroupVersion(scheme, groupVersion)

	ctx := ctrl.SetupSignalHandler()
	db, err := pgxpool.New(ctx, *databaseURL)
	if err != nil {
		fail(err)
	}
	defer db.Close()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress: *healthAddr,
		LeaderElection:         false,
	})
	if err != nil {
		fail(err)
	}
	var synced atomic.Bool
	if err := mgr.AddReadyzCheck("cache", func(*http.Request) error {
		if !synced.Load() {
			return errors.New("cache not synced")
		}
		return nil
	}); err != nil {
		fail(err)
	}
	go func() {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
	}()
	// controllers/tenant.ts reconciles on spec and metadata changes, not on status-only ones.
	specOrMetadata := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		a, b := e.ObjectOld, e.ObjectNew
		return a.GetGeneration() != b.GetGeneration() || !a.GetDeletionTimestamp().Equal(b.GetDeletionTimestamp()) ||
			!slices.Equal(a.GetFinalizers(), b.GetFinalizers()) || !equality.Semantic.DeepEqual(a.GetLabels(), b.GetLabels()) ||
			!equality.Semantic.DeepEqual(a.GetAnnotations(), b.GetAnnotations())
	}}
	r := &reconciler{client: mgr.GetClient(), db: db, finalizer: *withFinalizer, delay: time.Duration(*delayMs) * time.Millisecond, resync: time.Duration(*resyncMs) * time.Millisecond}
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("tenant").
		For(&Tenant{}, builder.WithPredicates(specOrMetadata)).
		WithOptions(controller.Options{MaxConcurrentReconciles: *concurrency}).
		Complete(r); err != nil {
		fail(err)
	}
	if err := mgr.Start(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "reference:", err)
	os.Exit(1)
}

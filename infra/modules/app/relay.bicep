// The relay on Azure Container Apps: one container running `python -m app`, set up so that
// live calls survive what the platform does on its own.
//
// - minReplicas >= 1: scaling to zero would end every live call.
// - terminationGracePeriodSeconds > SHUTDOWN_GRACE: on a new revision, a scale-in or a
//   restart, SIGTERM makes the relay refuse new calls and end the live ones with a saved
//   document; the platform waits that long before it kills the container.
// - DATA_DIR on an Azure Files volume: conversations the store did not take (and checkpoints
//   of live calls) survive the restart and are flushed by the next process.  Every replica,
//   and the old and new revision during a change, mount the same share, where file locks are
//   not to be trusted: each relay process spools under a name of its own and adopts a gone
//   one's files by atomic renames, and every upsert is by document id.
// - HTTP ingress (HTTP/1.1, so WebSocket upgrades pass) with no session affinity: a call is one
//   WebSocket, and it stays on the replica it reached.
// - Scale on CPU.  Container Apps' HTTP and TCP rules count new connections per 15 s, not
//   open WebSockets (a call held for minutes barely registers), and a tcp rule needs TCP
//   ingress; a relay's CPU follows its live calls (about 100 calls per vCPU).
// - Readiness on /readyz/platform: ready unless starting or draining.  Plain /readyz also
//   fails at MAX_CALLS (for a load balancer in front of several instances); as the platform's
//   probe that would take the only replica, its pages, admin API and /metrics out of the
//   ingress exactly when it is busiest.  Liveness on /healthz (the process answers).
// - Until the relay's image is deployed, the placeholder image runs on its own port (80) with
//   probes it passes: a first revision that never becomes ready fails the deployment.
//
// Every value the container's environment gets is one of the relay's settings (app/settings.py);
// tests/infra/test_infra.py holds the two together.

@description('Name of the Container App.')
param name string

@description('Azure region of the app.')
param location string

@description('Tags of the app; azd finds the app to deploy to by its azd-service-name tag.')
param tags object

@description('Resource id of the Container Apps environment.')
param environmentId string

@description('Name under which the environment knows the data share.')
param storageName string

@description('Resource id of the user-assigned identity the relay runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID: DefaultAzureCredential picks it).')
param identityClientId string

@description('Login server of the registry the image is pulled from with the identity (\'\' for a public image).')
param registryServer string

@description('Container image to run.')
param image string

@description('Whether image is the placeholder (listening on port 80) rather than the relay.')
param placeholder bool = false

@description('vCPU per replica (Consumption: 0.25 to 4, in steps of 0.25, as a string).')
param cpu string

@description('Memory per replica: twice the vCPU in GiB (1.0 vCPU: \'2Gi\').')
param memory string

@description('WORKERS: relay processes per replica; set it to the replica\'s whole vCPUs.')
param workers int

@description('Fewest replicas; at least 1 (scale to zero drops live calls).')
@minValue(1)
param minReplicas int

@description('Most replicas (they share the data share, each spooling under its own name).')
@minValue(1)
param maxReplicas int

@description('Average CPU use in percent above which another replica is started.')
@minValue(10)
@maxValue(95)
param cpuScaleThreshold int

@description('SHUTDOWN_GRACE: seconds a stopping relay gives live calls to end and be saved (the relay refuses less than SAVE_TIMEOUT + 5 s).')
@minValue(15)
@maxValue(570)
param shutdownGraceSeconds int

@description('MAX_CALLS: live calls one process accepts before answering 503.')
@minValue(1)
param maxCalls int

@description('MAX_CALLS_PER_CUSTOMER: live calls one customer may have at once.')
@minValue(1)
param maxCallsPerCustomer int

@description('MAX_FRAME_RATE: WebSocket messages per second a browser may send on one call.')
@minValue(1)
param maxFrameRate int

@description('REDACT_PII: redact personal data in stored transcripts before they are saved.')
param redactPii bool

@description('LOG_LEVEL of the relay.')
@allowed(['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG'])
param logLevel string

@description('ALLOWED_ORIGINS: comma-separated browser origins allowed to open calls (\'\' = same origin only).')
param allowedOrigins string

@description('COSMOSDB_ENDPOINT.')
param cosmosEndpoint string

@description('COSMOSDB_DATABASE.')
param cosmosDatabase string

@description('COSMOSDB_CONTAINER.')
param cosmosContainer string

@description('AZURE_OPENAI_ENDPOINT.')
param openAiEndpoint string

@description('AZURE_OPENAI_DEPLOYMENT.')
param openAiDeployment string

@description('RECORD_CALLS: record every call\'s audio.')
param recordCalls bool

@description('AZURE_STORAGE_ACCOUNT_URL: the Blob endpoint recordings go to (container recordings), with the managed identity.')
param storageAccountUrl string

@description('ADMIN_TOKEN (\'\': the admin API answers loopback clients only, i.e. nobody).')
@secure()
param adminToken string

@description('CALL_TOKEN_SECRET, at least 32 characters (\'\': ?customer_id= is trusted as given).')
@secure()
param callTokenSecret string

@description('TWILIO_AUTH_TOKEN (\'\': the Twilio phone routes are off).')
@secure()
param twilioAuthToken string = ''

@description('CALLER_ID_SECRET: key of the hash that turns a caller\'s number into customer_id.')
@secure()
param callerIdSecret string = ''

@description('PUBLIC_BASE_URL (\'\': this Container App\'s own https address).')
param publicBaseUrl string = ''

@description('ACS_ENDPOINT (\'\': no phone calls through ACS).')
param acsEndpoint string = ''

@description('ACS_RESOURCE_ID: the ACS resource\'s immutable id.')
param acsResourceId string = ''

@description('ACS_WEBHOOK_KEY.')
@secure()
param acsWebhookKey string = ''

resource appsEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' existing = {
  name: last(split(environmentId, '/'))
}

// The Container App's own https address: PUBLIC_BASE_URL unless another one is given.
var ownAddress = 'https://${name}.${appsEnvironment.properties.defaultDomain}'

// The relay's PORT, the ingress target and the probes' port.
var relayPort = 8000
// The placeholder image's port (it serves / there).
var placeholderPort = 80
var port = placeholder ? placeholderPort : relayPort
// DATA_DIR, where the data share is mounted.
var dataDir = '/data'
// The image's user (Dockerfile): the share is mounted as its files.
var imageUid = 10001
// After SHUTDOWN_GRACE: hypercorn's own close (2 s) and closing the store (up to 5 s), with room.
var terminationGracePeriodSeconds = shutdownGraceSeconds + 30

var settings = {
  HOST: '0.0.0.0'
  PORT: string(relayPort)
  DATA_DIR: dataDir
  // The share is mounted by every replica, where flock is not to be trusted: named spools
  // with leases instead (app/store/spool_leases.py).
  SPOOL_LOCKS: 'false'
  LOG_FORMAT: 'json'
  LOG_LEVEL: logLevel
  WORKERS: string(workers)
  SHUTDOWN_GRACE: string(shutdownGraceSeconds)
  MAX_CALLS: string(maxCalls)
  MAX_CALLS_PER_CUSTOMER: string(maxCallsPerCustomer)
  MAX_FRAME_RATE: string(maxFrameRate)
  REDACT_PII: redactPii ? 'true' : 'false'
  RECORD_CALLS: recordCalls ? 'true' : 'false'
  AZURE_STORAGE_ACCOUNT_URL: storageAccountUrl
  ALLOWED_ORIGINS: allowedOrigins
  AZURE_CLIENT_ID: identityClientId
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_DEPLOYMENT: openAiDeployment
  COSMOSDB_ENDPOINT: cosmosEndpoint
  COSMOSDB_DATABASE: cosmosDatabase
  COSMOSDB_CONTAINER: cosmosContainer
  PUBLIC_BASE_URL: empty(publicBaseUrl) ? ownAddress : publicBaseUrl
  ACS_ENDPOINT: acsEndpoint
  ACS_RESOURCE_ID: acsResourceId
}

var relayProbes = [
  {
    type: 'Startup'
    httpGet: {
      path: '/healthz'
      port: relayPort
    }
    periodSeconds: 2
    failureThreshold: 30
    timeoutSeconds: 5
  }
  {
    type: 'Liveness'
    httpGet: {
      path: '/healthz'
      port: relayPort
    }
    periodSeconds: 10
    failureThreshold: 3
    timeoutSeconds: 5
  }
  {
    type: 'Readiness'
    httpGet: {
      path: '/readyz/platform'
      port: relayPort
    }
    periodSeconds: 5
    failureThreshold: 2
    timeoutSeconds: 5
  }
]
var placeholderProbes = [
  {
    type: 'Readiness'
    httpGet: {
      path: '/'
      port: placeholderPort
    }
    periodSeconds: 5
    failureThreshold: 3
    timeoutSeconds: 5
  }
]

var plainEnv = [
  for setting in items(settings): {
    name: setting.key
    value: setting.value
  }
]

// ADMIN_TOKEN and CALL_TOKEN_SECRET are Container App secrets, set only when given.
var adminTokenSecrets = empty(adminToken) ? [] : [
  {
    name: 'admin-token'
    value: adminToken
  }
]
var callTokenSecrets = empty(callTokenSecret) ? [] : [
  {
    name: 'call-token-secret'
    value: callTokenSecret
  }
]
var acsSecrets = empty(acsWebhookKey) ? [] : [
  {
    name: 'acs-webhook-key'
    value: acsWebhookKey
  }
]
var acsEnv = empty(acsWebhookKey) ? [] : [
  {
    name: 'ACS_WEBHOOK_KEY'
    secretRef: 'acs-webhook-key'
  }
]
var adminTokenEnv = empty(adminToken) ? [] : [
  {
    name: 'ADMIN_TOKEN'
    secretRef: 'admin-token'
  }
]
var callTokenEnv = empty(callTokenSecret) ? [] : [
  {
    name: 'CALL_TOKEN_SECRET'
    secretRef: 'call-token-secret'
  }
]

// The phone settings that are secrets (docs/phone.md), set only when given.
var twilioSecrets = empty(twilioAuthToken) ? [] : [
  {
    name: 'twilio-auth-token'
    value: twilioAuthToken
  }
]
var callerIdSecrets = empty(callerIdSecret) ? [] : [
  {
    name: 'caller-id-secret'
    value: callerIdSecret
  }
]
var twilioEnv = empty(twilioAuthToken) ? [] : [
  {
    name: 'TWILIO_AUTH_TOKEN'
    secretRef: 'twilio-auth-token'
  }
]
var callerIdEnv = empty(callerIdSecret) ? [] : [
  {
    name: 'CALLER_ID_SECRET'
    secretRef: 'caller-id-secret'
  }
]
var phoneSecrets = concat(twilioSecrets, callerIdSecrets)
var phoneEnv = concat(twilioEnv, callerIdEnv)

resource relay 'Microsoft.App/containerApps@2025-01-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: port
        transport: 'http'
        allowInsecure: false
        stickySessions: {
          affinity: 'none'
        }
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      registries: empty(registryServer) ? [] : [
        {
          server: registryServer
          identity: identityId
        }
      ]
      secrets: concat(adminTokenSecrets, callTokenSecrets, phoneSecrets, acsSecrets)
    }
    template: {
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
      containers: [
        {
          name: 'relay'
          image: image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: concat(plainEnv, adminTokenEnv, callTokenEnv, phoneEnv, acsEnv)
          volumeMounts: [
            {
              volumeName: 'data'
              mountPath: dataDir
            }
          ]
          probes: placeholder ? placeholderProbes : relayProbes
        }
      ]
      volumes: [
        {
          name: 'data'
          storageType: 'AzureFile'
          storageName: storageName
          mountOptions: 'uid=${imageUid},gid=${imageUid},dir_mode=0750,file_mode=0640'
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'cpu'
            custom: {
              type: 'cpu'
              metadata: {
                type: 'Utilization'
                value: string(cpuScaleThreshold)
              }
            }
          }
        ]
      }
    }
  }
}

output name string = relay.name
output fqdn string = relay.properties.configuration.ingress.fqdn
output uri string = 'https://${relay.properties.configuration.ingress.fqdn}'

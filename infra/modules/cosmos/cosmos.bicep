// Azure Cosmos DB for the relay's conversations: a serverless account, the database, the
// container (partition key /customer_id, an indexing policy fitted to the relay's queries,
// optional retention) and the data-plane role for the identities that use it.
//
// Keys are off (disableLocalAuth), and so are key-based metadata writes: the relay and the
// developers reach the data with Entra ID only, and only through the data-plane role.
//
// The relay's defaults (app/settings.py) and its container definition (app/store/cosmos_schema.py)
// must match this file; tests/infra/test_infra.py holds them together.

@description('Cosmos DB account name: 3-44 lowercase letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(44)
param accountName string

@description('Azure region of the account.')
param location string = resourceGroup().location

@description('Database of the conversations (the relay\'s COSMOSDB_DATABASE).')
param databaseName string = 'GenAI'

@description('Container of the conversations (the relay\'s COSMOSDB_CONTAINER).')
param containerName string = 'AI_Conversations'

@description('Retention: seconds after its last write a conversation is deleted. 0 keeps them forever.')
@minValue(0)
param defaultTtlSeconds int = 0

@description('Object ids of the principals given the Cosmos DB Built-in Data Contributor role (read and write items; cannot create databases or containers): the app\'s managed identity, and optionally developers.')
param dataContributorPrincipalIds array = []

var partitionKeyPath = '/customer_id'

// Cosmos DB Built-in Data Contributor (a data-plane role of every account).
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  // checkov:skip=CKV_AZURE_101: public network access stays on until private networking (a VNet-integrated Container Apps environment) is an option of this template; keys are off, Entra ID only
  // checkov:skip=CKV_AZURE_99: no IP or VNet rules: the Container Apps Consumption environment has no fixed outbound address to allow; keys are off, Entra ID only
  name: accountName
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      partitionKey: {
        paths: [
          partitionKeyPath
        ]
        kind: 'Hash'
        version: 2
      }
      // Only /customer_id and /session_start are indexed, plus the composite index the
      // newest-first listing and the date-range export sort on: a long transcript costs no
      // index terms.  The same file is used by the az command the relay prints when the
      // container is missing.
      indexingPolicy: loadJsonContent('indexing-policy.json')
      defaultTtl: defaultTtlSeconds > 0 ? defaultTtlSeconds : null
    }
  }
}

resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleDefinitions@2024-11-15' existing = {
  parent: account
  name: dataContributorRoleId
}

// One at a time, after the container: Cosmos DB takes an exclusive lock on the account for each
// role assignment, and parallel ones (or one beside the database or container) fail with 412
// "another operation in progress".
@batchSize(1)
resource dataContributorAssignments 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principalId in dataContributorPrincipalIds: {
    parent: account
    dependsOn: [
      container
    ]
    name: guid(account.id, dataContributorRoleId, principalId)
    properties: {
      roleDefinitionId: dataContributor.id
      principalId: principalId
      scope: account.id
    }
  }
]

@description('The relay\'s COSMOSDB_ENDPOINT.')
output endpoint string = account.properties.documentEndpoint

output accountName string = account.name
output databaseName string = database.name
output containerName string = container.name

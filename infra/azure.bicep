// Enrollment Doctor in Azure: App Service (Linux, Python 3.11) running app.py, PostgreSQL for its state (several
// replicas may share it), an Azure Bot connected to Teams, and two user-assigned managed identities: one the bot
// uses towards the Bot Framework, one that holds the Graph application permissions. No client secret anywhere.
// Deployed by `atk provision` (m365agents.yml); outputs are written to env/.env.<environment>.

@minLength(4)
@maxLength(16)
@description('Base of every resource name; must make the web app and PostgreSQL names globally unique.')
param resourceBaseName string

param location string = resourceGroup().location

@maxLength(42)
param botDisplayName string = 'Enrollment Doctor'

@description('App Service plan SKU: B1 is enough for a tenant; P0v3 or above for several instances.')
param appServiceSku string = 'B1'

@description('Object id of the Entra security group whose members may approve tenant changes.')
param approverGroupId string

@description('Optional: the admins\' channel conversation id (19:...@thread.tacv2).')
param approvalChannelId string = ''

@description('Grant Policy.ReadWrite.ConditionalAccess, so approved Conditional Access exclusions can be applied.')
param allowCaExclusion bool = false

@description('Grant DeviceManagementServiceConfig.ReadWrite.All, so approved enrollment restriction fixes can be applied.')
param allowWindowsRestriction bool = false

@allowed(['app', 'approver'])
@description('app: the Graph identity holds the write permissions. approver: it reads only, and each approved change is made with the approving admin\'s own sign-in (Teams SSO through the Azure Bot\'s OAuth connection).')
param applyAs string = 'app'

@secure()
@description('Approver mode: a client secret of the sign-in app registration (created by the first provision).')
param signInClientSecret string = ''

@description('Many tenants (README: "Many tenants"): read and fix customer tenants too, through a multi-tenant app registration (signInAudience AzureADMultipleOrgs) each customer tenant consents to, instead of the Graph managed identity (which works in this tenant only).')
param multiTenant bool = false

@description('Many tenants: the Key Vault secret holding the multi-tenant app\'s client secret (https://<vault>.vault.azure.net/secrets/<name>), read by the web app as a Key Vault reference with the Graph identity.')
param graphClientSecretUri string = ''

@description('Many tenants: customer tenants with an app registration of their own, TENANT_SECRET_<NAME> -> Key Vault secret URI (each becomes an app setting holding a Key Vault reference; the registry names TENANT_SECRET_<NAME>).')
param tenantSecretUris object = {}

@description('The bot\'s public https base URL (PUBLIC_URL), where admin consent comes back. Empty: https://<resourceBaseName>.azurewebsites.net.')
param publicUrl string = ''

param postgresAdminLogin string = 'doctoradmin'

@secure()
@minLength(8)
param postgresAdminPassword string

var databaseName = 'enrollmentdoctor'
var publicBaseUrl = empty(publicUrl) ? 'https://${resourceBaseName}.azurewebsites.net' : publicUrl
// The Graph application permissions (least privilege for each API the bot calls); approver mode: reads only.
var graphRoles = union(map(concat(
  [
    'Policy.ReadWrite.DeviceConfiguration'
    'User.Read.All'
    'GroupMember.Read.All'
    'DeviceManagementManagedDevices.Read.All'
    'Policy.Read.All'
    'DeviceManagementServiceConfig.Read.All'
    'AuditLog.Read.All'
    'Organization.Read.All'
  ],
  allowCaExclusion ? ['Policy.ReadWrite.ConditionalAccess'] : [],
  allowWindowsRestriction ? ['DeviceManagementServiceConfig.ReadWrite.All'] : []
), r => applyAs == 'approver' ? replace(r, '.ReadWrite.', '.Read.') : r), [])
// Many tenants: Graph through the multi-tenant app and its secret (a Key Vault reference), and each customer
// tenant's own secret the same way; the registry (python app.py tenants ...) names them.
var multiTenantSettings = [
  { name: 'GRAPH_CREDENTIAL', value: 'secret' }
  { name: 'GRAPH_CLIENT_SECRET', value: '@Microsoft.KeyVault(SecretUri=${graphClientSecretUri})' }
]
var singleTenantSettings = [
  { name: 'GRAPH_CREDENTIAL', value: 'managed_identity' }
]
var tenantSecretSettings = map(items(tenantSecretUris), s => {
  name: s.key
  value: '@Microsoft.KeyVault(SecretUri=${s.value})'
})
var tenantId = subscription().tenantId
var oauthConnectionName = 'graph'
// Delegated scopes of an approver's own sign-in: who they are, reading, and the writes (Graph still requires their
// directory role for each write: Cloud Device Administrator, Conditional Access Administrator, Intune Administrator).
var approverScopes = [
  'User.Read'
  'Policy.Read.All'
  'Policy.ReadWrite.DeviceConfiguration'
  'Policy.ReadWrite.ConditionalAccess'
  'DeviceManagementServiceConfig.ReadWrite.All'
]

resource botIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${resourceBaseName}-bot'
  location: location
}

resource graphIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${resourceBaseName}-graph'
  location: location
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2023-06-01-preview' = {
  name: '${resourceBaseName}-db'
  location: location
  sku: {
    name: 'Standard_B1ms'
    tier: 'Burstable'
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: {
      storageSizeGB: 32
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
  }

  resource database 'databases' = {
    name: databaseName
  }

  // Connections from Azure services only (0.0.0.0 is Azure's own marker for that), always over TLS.
  resource fromAzure 'firewallRules' = {
    name: 'AllowAzureServices'
    properties: {
      startIpAddress: '0.0.0.0'
      endIpAddress: '0.0.0.0'
    }
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${resourceBaseName}-plan'
  location: location
  kind: 'linux'
  sku: {
    name: appServiceSku
  }
  properties: {
    reserved: true
  }
}

resource web 'Microsoft.Web/sites@2023-12-01' = {
  name: resourceBaseName
  location: location
  kind: 'app,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${botIdentity.id}': {}
      '${graphIdentity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: graphIdentity.id // grant it Key Vault Secrets User on the vault (many tenants)
    siteConfig: {
      linuxFxVersion: 'PYTHON|3.11'
      appCommandLine: 'python app.py'
      alwaysOn: true
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      healthCheckPath: '/healthz'
      appSettings: concat([
        { name: 'SCM_DO_BUILD_DURING_DEPLOYMENT', value: 'true' }
        { name: 'WEBSITES_PORT', value: '8000' }
        { name: 'PORT', value: '8000' }
        { name: 'MicrosoftAppType', value: 'UserAssignedMSI' }
        { name: 'MicrosoftAppId', value: botIdentity.properties.clientId }
        { name: 'MicrosoftAppTenantId', value: tenantId }
        { name: 'GRAPH_CLIENT_ID', value: multiTenant ? graphApp.outputs.appId : graphIdentity.properties.clientId }
        { name: 'PUBLIC_URL', value: publicBaseUrl }
        { name: 'GRAPH_TENANT_ID', value: tenantId }
        { name: 'APPROVER_GROUP_ID', value: approverGroupId }
        { name: 'APPROVAL_CHANNEL_ID', value: approvalChannelId }
        { name: 'LOG_FORMAT', value: 'json' }
        { name: 'APPLY_AS', value: applyAs }
        { name: 'OAUTH_CONNECTION_NAME', value: oauthConnectionName }
        {
          name: 'DATABASE_URL'
          value: 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'
        }
      ], multiTenant ? multiTenantSettings : singleTenantSettings, tenantSecretSettings)
    }
  }
}

module bot 'modules/bot.bicep' = {
  name: 'azure-bot'
  params: {
    name: resourceBaseName
    displayName: botDisplayName
    endpoint: 'https://${web.properties.defaultHostName}/api/messages'
    identityResourceId: botIdentity.id
    identityClientId: botIdentity.properties.clientId
    tenantId: tenantId
    signInAppId: applyAs == 'approver' ? signIn.outputs.appId : ''
    signInClientSecret: signInClientSecret
    oauthConnectionName: oauthConnectionName
    graphScopes: approverScopes
  }
}

module signIn 'modules/signin.bicep' = if (applyAs == 'approver') {
  name: 'sign-in-app'
  params: {
    botId: botIdentity.properties.clientId
    displayName: '${botDisplayName} sign-in'
    uniqueName: '${resourceBaseName}-signin'
    graphScopes: approverScopes
  }
}

// The least privilege Microsoft's permission page lists for each API the bot calls (sim/permissions.py cites them;
// tests/unit/test_deployment.py holds this list, the README's table, the demo tenant and the bot's claims together).
module graphPermissions 'modules/graph-permissions.bicep' = {
  name: 'graph-permissions'
  params: {
    // Granted here to whichever identity reads Graph: the managed identity, or (many tenants) the multi-tenant app's
    // service principal in this tenant; each customer tenant grants them by admin consent.
    principalId: multiTenant ? graphApp.outputs.principalId : graphIdentity.properties.principalId
    roles: graphRoles
  }
}

module graphApp 'modules/multitenant-app.bicep' = if (multiTenant) {
  name: 'multitenant-graph-app'
  params: {
    displayName: botDisplayName
    uniqueName: '${resourceBaseName}-graph'
    redirectUri: '${publicBaseUrl}/consent'
    roles: graphRoles
  }
}

output AZURE_APP_SERVICE_RESOURCE_ID string = web.id
output BOT_DOMAIN string = web.properties.defaultHostName
output BOT_ENDPOINT string = 'https://${web.properties.defaultHostName}'
output BOT_ID string = botIdentity.properties.clientId
output BOT_TENANT_ID string = tenantId
output GRAPH_IDENTITY_CLIENT_ID string = graphIdentity.properties.clientId
output SIGNIN_APP_ID string = applyAs == 'approver' ? signIn.outputs.appId : botIdentity.properties.clientId
output POSTGRES_SERVER string = postgres.properties.fullyQualifiedDomainName
